-- Email addresses are unique within an account, no longer across the deployment: the same address
-- may be a user of several accounts, so no tenant learns of another's users by being refused one.
-- Kept equivalent to ../sqlite/0005_email_per_account.sql (which has to rebuild the table); a
-- test compares the schemas. Existing rows are untouched: every deployment-unique address is
-- also unique within its account.
ALTER TABLE users DROP CONSTRAINT users_email_key_key;
ALTER TABLE users ADD CONSTRAINT users_one_email_per_account UNIQUE (account_id, email_key);
-- Sign-in looks an address up in every account.
CREATE INDEX users_by_email ON users (email_key);
