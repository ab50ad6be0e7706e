package handlers

// LockFor exposes the throttling schedule to tests.
var LockFor = lockFor

// FormatCount exposes the list's total format to benchmarks.
var FormatCount = formatCount
