"""The pipeline meets the stages: ingest (sources -> articles -> matches -> store) and delivery
(outbox -> channels).  The tools for rule authors and analysts that drive it live here too:
dry run, backtest and export."""
