//go:build !race

package ingest

// raceDetector reports a -race build (see race_on_internal_test.go).
const raceDetector = false
