//go:build race

package ingest

// raceDetector reports a -race build: the detector slows the pure-Go SQLite
// about eightfold, so store-heavy property tests draw fewer cases.
const raceDetector = true
