package main

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrashKill9DuringImport: a 500-row import is confirmed, serve is
// killed with SIGKILL while the import job mints it, and restarted on the
// same file. After the restart the batch finishes by itself, and every row
// has exactly one link, open, and StableMint holds exactly one session per
// row's idempotency key.
func TestCrashKill9DuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds the binary and runs real processes; skipped with -short")
	}
	const rows = 500
	seed := crashSeed(t)
	rng := mrand.New(mrand.NewPCG(seed, 7))
	killAt := 10 + rng.IntN(rows-100) // links open when serve is killed
	t.Logf("seed %d: kill -9 once %d links are open (replay with PAYLINKS_CRASH_SEED=%d)", seed, killAt, seed)

	rig := newCrashImportRig(t)
	bin, dbPath, sbURL, serveEnv := rig.bin, rig.dbPath, rig.sbURL, rig.serveEnv
	serve := startServeProc(t, bin, serveEnv, "serve (first run)")
	b := newCrashBrowser(t)
	b.login(t, serve.base)

	var csv strings.Builder
	csv.WriteString("userId,userEmail,userCountryCode,currency,amount,websiteReference\n")
	for i := range rows {
		fmt.Fprintf(&csv, "IMP-C-%04d,c%d@example.com,DE,EUR,%d.%02d,IMP-INV-%04d\n", i, i, 1+i%9, i%100, i)
	}
	action, ctok := b.uploadCheckedImport(t, serve.base, "crash.csv", csv.String(), rows)
	st, loc, err := b.post(serve.base+action, url.Values{"_csrf": {ctok}})
	if err != nil || st != http.StatusSeeOther || !strings.HasPrefix(loc, "/links/import/batches/") {
		t.Fatalf("confirm: %d %q %v", st, loc, err)
	}

	r := openReader(t, dbPath)
	defer r.Close()
	deadline := time.Now().Add(120 * time.Second)
	for {
		var open int
		if err := r.QueryRow("SELECT count(*) FROM links WHERE status = 'open'").Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open >= killAt {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d links open after 120 s\n%s", open, serve.tail())
		}
		time.Sleep(time.Millisecond)
	}
	serve.kill()
	var openAtKill, creatingAtKill int
	_ = r.QueryRow("SELECT count(*) FROM links WHERE status = 'open'").Scan(&openAtKill)
	_ = r.QueryRow("SELECT count(*) FROM links WHERE status = 'creating'").Scan(&creatingAtKill)
	t.Logf("killed with %d open, %d creating", openAtKill, creatingAtKill)

	serve = startServeProc(t, bin, serveEnv, "serve (after the kill)")
	deadline = time.Now().Add(180 * time.Second)
	for {
		var left int
		if err := r.QueryRow("SELECT count(*) FROM links WHERE status = 'creating'").Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d links still creating 180 s after the restart\n%s", left, serve.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := serve.stop(); err != nil {
		t.Errorf("stopping serve: %v\n%s", err, serve.tail())
	}

	var withLink, links, openLinks, keys1 int
	_ = r.QueryRow("SELECT count(*) FROM import_rows WHERE link_id IS NOT NULL").Scan(&withLink)
	_ = r.QueryRow("SELECT count(*), COALESCE(sum(status = 'open'), 0), count(DISTINCT idempotency_key) FROM links").Scan(&links, &openLinks, &keys1)
	if withLink != rows || links != rows || openLinks != rows || keys1 != rows {
		t.Errorf("rows with a link %d, links %d, open %d, distinct keys %d; want %d each", withLink, links, openLinks, keys1, rows)
	}
	perKey := map[string]int{}
	for _, s := range sandboxSessions(t, sbURL) {
		perKey[s.IdempotencyKey]++
	}
	if len(perKey) != rows {
		t.Errorf("StableMint holds sessions for %d keys, want %d", len(perKey), rows)
	}
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("key %s has %d sessions, want 1", k, n)
		}
	}
	rowsByKey := map[string]bool{}
	q, err := r.Query("SELECT idempotency_key FROM links")
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var k string
		_ = q.Scan(&k)
		rowsByKey[k] = true
	}
	q.Close()
	for k := range perKey {
		if !rowsByKey[k] {
			t.Errorf("StableMint has a session for key %s, which no link holds", k)
		}
	}
}

// crashImportRig is what the import crash tests share: the paylinks
// binary, the sandbox in its own process (it outlives serve's crash), the
// environment of serve on a database file in t.TempDir(), and a finance
// account made the way an operator would (which also migrates the file).
type crashImportRig struct {
	bin, dbPath, sbURL string
	serveEnv           []string
	sandbox            *crashProc
}

func newCrashImportRig(t *testing.T, extraEnv ...string) crashImportRig {
	t.Helper()
	dir := t.TempDir()
	bin := buildPaylinks(t)
	keys := writeCrashKeys(t, dir)
	dbPath := filepath.Join(dir, "data", "paylinks.db")
	sb, sbURL := startCrashSandbox(t, bin, keys)
	serveEnv := append(baseEnv(), "PAYLINKS_ADDR=127.0.0.1:0", "PAYLINKS_DB="+dbPath, "PAYLINKS_LOG_LEVEL=warn",
		"PAYLINKS_LOG_FORMAT=text", "STABLEMINT_BASE_URL="+sbURL, "STABLEMINT_API_KEY="+crashAPIKey,
		"STABLEMINT_API_SECRET="+keys.secret, "STABLEMINT_PRIVATE_KEY_FILE="+keys.partnerPriv,
		"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE="+keys.sandboxPub)
	serveEnv = append(serveEnv, extraEnv...)
	cmd := exec.Command(bin, "users", "create", "--email", crashEmail, "--name", "Crash Finance", "--role", "finance", "--password-stdin")
	cmd.Env = append(baseEnv(), "PAYLINKS_DB="+dbPath)
	cmd.Stdin = strings.NewReader(crashPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("paylinks users create: %v\n%s", err, out)
	}
	return crashImportRig{bin: bin, dbPath: dbPath, sbURL: sbURL, serveEnv: serveEnv, sandbox: sb}
}

// uploadCheckedImport uploads a CSV through the import page, expects its
// check page to offer "Create <good> links", and returns the confirm
// form's action and CSRF token.
func (b *crashBrowser) uploadCheckedImport(t *testing.T, base, name, csv string, good int) (action, csrf string) {
	t.Helper()
	doc, status, err := b.getDoc(base + "/links/import")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /links/import: %d %v", status, err)
	}
	tok, _ := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("_csrf", tok)
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write([]byte(csv))
	_ = w.Close()
	resp, err := b.c.Post(base+"/links/import", w.FormDataContentType(), &body)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
	preview, status, err := b.getDoc(base + resp.Header.Get("Location"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("check page: %d %v", status, err)
	}
	if got := strings.TrimSpace(preview.Find(`[data-testid="confirm"]`).Text()); got != fmt.Sprintf("Create %d links", good) {
		t.Fatalf("button %q, want %q", got, fmt.Sprintf("Create %d links", good))
	}
	action, _ = preview.Find(`[data-testid="confirm-form"]`).Attr("action")
	csrf, _ = preview.Find(`[data-testid="confirm-form"] input[name="_csrf"]`).Attr("value")
	return action, csrf
}
