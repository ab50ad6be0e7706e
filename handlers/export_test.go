package handlers

// LockFor exposes the throttling schedule to tests.
var LockFor = lockFor

// FormatCount exposes the list's total format to benchmarks.
var FormatCount = formatCount

// EventData exposes how a verified body becomes a stored event, for the
// webhook writer's ceiling benchmark.
var EventData = eventData
