-- Who the user was as a viewer of the tenant's work (role, teams, people) when the cache
-- was last held to it: a later start or sign-in compares, prunes, and reads the feed
-- again from the start when the user now sees more (see cache::scope).
ALTER TABLE account ADD COLUMN viewer TEXT;
