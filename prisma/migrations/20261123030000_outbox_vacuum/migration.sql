-- The relay scans `delivered_at IS NULL` through an index in which every delivered row leaves a dead
-- entry until vacuum; with the default (20% of the table changed) those piled up and the scan slowed
-- from 0.05 ms to 20 ms at 200,000 dead entries (bench/outbox.ts). Vacuum this table after every
-- 10,000 changed rows instead. Storage parameters are outside Prisma's model, so this is no drift.
ALTER TABLE "outbox_events" SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 10000,
  autovacuum_analyze_scale_factor = 0,
  autovacuum_analyze_threshold = 10000
);
