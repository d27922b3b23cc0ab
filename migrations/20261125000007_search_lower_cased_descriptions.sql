-- `q` searches compare a lower-cased copy of the description, kept by PostgreSQL, with `like`:
-- `ilike` lower-cases every description it looks at (an allocation and a locale-aware conversion per
-- row, about ten times the cost of the comparison), and a search for a common word walks thousands
-- of the newest jobs. `lower(description) like lower(pattern)` is exactly what `ilike` computes.
alter table job add column description_lower text generated always as (lower(description)) stored;
drop index job_description_trgm_idx;
create index job_description_lower_trgm_idx on job using gin (description_lower gin_trgm_ops);
