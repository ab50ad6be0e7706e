package main

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDuringASlowMint: StableMint is slow and fails once, so the
// create request's call takes about 13 s (6 s, a 503, a retry, 6 s more:
// each attempt inside the client's 10 s wait for an answer, the whole
// inside its 15 s), longer than the old 10 s shutdown; a SIGTERM arrives
// 1.5 s into it. The server stops gracefully only after that request is answered
// with its link page, the link is open with the one session StableMint
// made, and the process exits 0.
func TestSIGTERMDuringASlowMint(t *testing.T) {
	if testing.Short() {
		t.Skip("shutdown test: builds the binary and runs real processes; skipped with -short")
	}
	dir := t.TempDir()
	bin := buildPaylinks(t)
	keys := writeCrashKeys(t, dir)
	dbPath := filepath.Join(dir, "data", "paylinks.db")
	_, sbURL := startCrashSandbox(t, bin, keys)
	cmd := exec.Command(bin, "users", "create", "--email", crashEmail, "--name", "Shutdown Finance", "--role", "finance", "--password-stdin")
	cmd.Env = append(baseEnv(), "PAYLINKS_DB="+dbPath)
	cmd.Stdin = strings.NewReader(crashPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("paylinks users create: %v\n%s", err, out)
	}
	serve := startServeProc(t, bin, append(baseEnv(),
		"PAYLINKS_ADDR=127.0.0.1:0", "PAYLINKS_DB="+dbPath, "PAYLINKS_LOG_LEVEL=warn", "PAYLINKS_LOG_FORMAT=text",
		"STABLEMINT_BASE_URL="+sbURL, "STABLEMINT_API_KEY="+crashAPIKey, "STABLEMINT_API_SECRET="+keys.secret,
		"STABLEMINT_PRIVATE_KEY_FILE="+keys.partnerPriv, "STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE="+keys.sandboxPub,
	), "serve")
	b := newCrashBrowser(t)
	b.login(t, serve.base)
	m, err := b.newMintForm(serve.base, "INV-SLOW-1", 420)
	if err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	for _, c := range []struct{ path, body string }{
		{"/_sandbox/slow-next-creates", `{"n":2,"ms":6000}`}, {"/_sandbox/fail-next-creates", `{"n":1,"status":503}`},
	} {
		resp, err = http.Post(sbURL+c.path, "application/json", strings.NewReader(c.body))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("sandbox control %s: %v %v", c.path, resp, err)
		}
		resp.Body.Close()
	}

	type answer struct {
		status   int
		location string
		err      error
	}
	answered := make(chan answer, 1)
	start := time.Now()
	go func() {
		s, loc, err := b.submitMint(serve.base, m)
		answered <- answer{s, loc, err}
	}()
	time.Sleep(1500 * time.Millisecond) // the request now waits for StableMint
	if err := serve.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var a answer
	select {
	case a = <-answered:
	case <-time.After(40 * time.Second):
		t.Fatalf("the create request was not answered:\n%s", serve.tail())
	}
	t.Logf("the create request was answered %v after it was sent", time.Since(start).Round(time.Millisecond))
	if a.err != nil || a.status != http.StatusSeeOther || locationID(a.location) == 0 {
		t.Fatalf("create during shutdown: status %d, Location %q, err %v (after %v)\n%s", a.status, a.location, a.err, time.Since(start), serve.tail())
	}
	select {
	case <-serve.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not stop:\n%s", serve.tail())
	}
	if serve.exitErr.Error() != "exit status 0" {
		t.Fatalf("serve exited with %v:\n%s", serve.exitErr, serve.tail())
	}

	r := openReader(t, dbPath)
	defer r.Close()
	var status string
	var ref sql.NullString
	if err := r.QueryRow("SELECT status, sm_reference FROM links WHERE id = ?", locationID(a.location)).Scan(&status, &ref); err != nil {
		t.Fatal(err)
	}
	if status != "open" || !ref.Valid {
		t.Fatalf("the link is %s (reference %v) after the graceful stop", status, ref)
	}
	resp, err = http.Get(sbURL + "/_sandbox/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sessions []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 {
		t.Fatalf("StableMint holds %d sessions, want 1", len(sessions))
	}
}
