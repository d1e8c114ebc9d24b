-- An account's purchases with what each counts for, in placed order, from
-- the index alone: tiers after every purchase and segment refreshes over
-- every account read spend without visiting the rows and their records.
-- It replaces the index it extends.
DROP INDEX purchases_account;
CREATE INDEX purchases_account ON purchases (account_id, placed_at, qualifying);
