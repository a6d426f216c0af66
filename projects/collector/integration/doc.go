// Package integration tests the built phoenix-collector binary end to end:
// the pipeline with all three Phoenix processors fed over OTLP, the upstream
// `validate` subcommand on good and bad configs, and the generator's golden
// configs. It holds only tests; building the binary once in TestMain keeps the
// race-instrumented test build small.
package integration
