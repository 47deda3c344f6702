-- Kafka messages carry a batch of rows: a row the consumer refuses is one dead letter, so a message can hold several.
-- kafka_batch_row is the row's position in its message (NULL when the whole message was refused).
ALTER TABLE ops_dead_letters ADD COLUMN IF NOT EXISTS kafka_batch_row integer;
DROP INDEX IF EXISTS ops_dead_letters_message_idx;
-- A re-delivered message must still land once: one dead letter per (message, row).
CREATE UNIQUE INDEX IF NOT EXISTS ops_dead_letters_message_row_idx
    ON ops_dead_letters (target_table, kafka_partition, kafka_offset, COALESCE(kafka_batch_row, -1))
    WHERE stage = 'consumer';

-- A random identity per warehouse, made once: the default Kafka namespace is derived from it (and the database name),
-- so two warehouses sharing one broker never share topics or consumer groups.
CREATE TABLE IF NOT EXISTS ops_warehouse_identity (
    warehouse_id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    made_on      date NOT NULL DEFAULT current_date
);
CREATE UNIQUE INDEX IF NOT EXISTS ops_warehouse_identity_one_row ON ops_warehouse_identity ((true));
INSERT INTO ops_warehouse_identity DEFAULT VALUES ON CONFLICT DO NOTHING;
