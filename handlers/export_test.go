package handlers

// LockFor exposes the throttling schedule to tests.
var LockFor = lockFor
