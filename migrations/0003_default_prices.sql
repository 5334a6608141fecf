-- Shipped default prices (org_id NULL), in micro-dollars per million tokens. Orgs override them
-- with rows of their own. Model names match exactly first, then by the longest prefix (so
-- "gpt-4o-mini-2024-07-18" prices as "gpt-4o-mini"), then the provider's "*" row: a deliberately
-- high fallback so an unknown model can never make a budget cheaper than it is.
INSERT INTO prices (org_id, provider, model, input_micros_per_mtok, output_micros_per_mtok, cached_input_micros_per_mtok, max_output_tokens)
VALUES
    (NULL, 'openai', 'gpt-5',                   1250000,  10000000,  125000, 128000),
    (NULL, 'openai', 'gpt-5-mini',               250000,   2000000,   25000, 128000),
    (NULL, 'openai', 'gpt-5-nano',                50000,    400000,    5000, 128000),
    (NULL, 'openai', 'gpt-4.1',                 2000000,   8000000,  500000,  32768),
    (NULL, 'openai', 'gpt-4.1-mini',             400000,   1600000,  100000,  32768),
    (NULL, 'openai', 'gpt-4.1-nano',             100000,    400000,   25000,  32768),
    (NULL, 'openai', 'gpt-4o',                  2500000,  10000000, 1250000,  16384),
    (NULL, 'openai', 'gpt-4o-mini',              150000,    600000,   75000,  16384),
    (NULL, 'openai', 'o3',                      2000000,   8000000,  500000, 100000),
    (NULL, 'openai', 'o4-mini',                 1100000,   4400000,  275000, 100000),
    (NULL, 'openai', 'text-embedding-3-small',    20000,         0,       0,      0),
    (NULL, 'openai', 'text-embedding-3-large',   130000,         0,       0,      0),
    (NULL, 'openai', '*',                      15000000,  60000000, 7500000,  32768),
    (NULL, 'anthropic', 'claude-opus-4',       15000000,  75000000, 1500000,  32000),
    (NULL, 'anthropic', 'claude-sonnet-4',      3000000,  15000000,  300000,  64000),
    (NULL, 'anthropic', 'claude-3-7-sonnet',    3000000,  15000000,  300000,  64000),
    (NULL, 'anthropic', 'claude-haiku-4',       1000000,   5000000,  100000,  64000),
    (NULL, 'anthropic', 'claude-3-5-haiku',      800000,   4000000,   80000,   8192),
    (NULL, 'anthropic', '*',                   15000000,  75000000, 1500000,  32000);
