-- Orleans ADO.NET providers, part 1: the table the providers read their statements from.
-- From dotnet/orleans src/AdoNet/Shared/PostgreSQL-Main.sql; the statements below are Orleans' own
-- contract (parameter and column names are read by name), so they are kept as Orleans wrote them.
CREATE TABLE OrleansQuery
(
    QueryKey varchar(64) NOT NULL,
    QueryText varchar(8000) NOT NULL,
    CONSTRAINT OrleansQuery_Key PRIMARY KEY(QueryKey)
);
