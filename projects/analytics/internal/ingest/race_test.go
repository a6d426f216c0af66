//go:build race

package ingest

// raceEnabled: the race detector changes heap accounting, so heap bounds
// are not asserted under it.
const raceEnabled = true
