"""The services' databases: URLs, async engines, hot statements and table metadata.

`urls` names a database's asyncio and synchronous drivers, `engine` builds the pooled async
engines the requests run on, `query` runs a hot statement on asyncpg itself, and `metadata`
names constraints by convention. The migrations are common.migrations.
"""
