-- Data planes compress payloads (zstd) before sealing them: agent requests repeat a whole
-- conversation and compress about 4×, so a stored call costs a quarter of its bytes on disk and in
-- the WAL. NULL: the plaintext as sent (rows written before this migration, or by a data plane not
-- yet upgraded). Readers that know this column must run before writers that fill it: upgrade the
-- control plane first.
ALTER TABLE payloads ADD COLUMN compression text CHECK (compression = 'zstd');
