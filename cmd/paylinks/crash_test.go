package main

// The crash test: real processes, a real SQLite file, kill -9.
//
// The paylinks binary is built once; the StableMint sandbox runs as its own
// child process, so it outlives the crash, and `paylinks serve` runs as
// another, on a database file in t.TempDir(), pointed at the sandbox through
// the STABLEMINT_* variables. While 8 senders deliver 2,000 signed webhooks
// (three payload families, duplicates, any order) for 200 links and two
// signed-in users mint links through the new-link form, serve is killed with
// SIGKILL at a random moment. Then the test checks, on the file as the crash
// left it, that every delivery answered 2xx was committed; restarts serve on
// the same file; resends every delivery not answered 2xx and resubmits every
// form not answered 303; stops serve; and proves on the file and at the
// sandbox that:
//
//   - every event is stored exactly once, against its own link;
//   - each link's status is what replaying its stored events, in the order
//     they were stored, gives under the contract's status table and
//     forward-only rule (docs/stablemint.md), computed here independently;
//   - every minted link exists exactly once, none is left creating, and the
//     sandbox holds exactly one session per link and per idempotency key;
//   - the dashboard's kept figures match the links, both as the crash left
//     the file and at the end (`paylinks figures check`).
//
// A failure names the seed; PAYLINKS_CRASH_SEED=<seed> replays the same
// links, events, delivery order and kill point (thread timing still varies).

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

const (
	crashLinkCount     = 200
	crashDeliveryCount = 2000
	crashSenders       = 8
	crashMinters       = 2
	crashEmail         = "finance@crash.example"
	crashPassword      = "crash test passphrase 42"
	crashAPIKey        = "crash-partner"
)

func TestCrashKill9DuringWebhooksAndMinting(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds the binary and runs real processes; skipped with -short")
	}
	began := time.Now()
	seed := crashSeed(t)
	t.Logf("seed %d (replay with PAYLINKS_CRASH_SEED=%d)", seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, 0x9e3779b97f4a7c15))

	dir := t.TempDir()
	bin := buildPaylinks(t)
	keys := writeCrashKeys(t, dir)
	dbPath := filepath.Join(dir, "data", "paylinks.db")

	// The sandbox: its own process, so that it survives the crash of serve.
	// It sends no webhooks (no --webhook-url): the test is StableMint's
	// delivery side, signing with the sandbox's key.
	sb, sbURL := startCrashSandbox(t, bin, keys)

	serveEnv := append(baseEnv(),
		"PAYLINKS_ADDR=127.0.0.1:0",
		"PAYLINKS_DB="+dbPath,
		"PAYLINKS_LOG_LEVEL=warn",
		"PAYLINKS_LOG_FORMAT=text",
		"STABLEMINT_BASE_URL="+sbURL,
		"STABLEMINT_API_KEY="+crashAPIKey,
		"STABLEMINT_API_SECRET="+keys.secret,
		"STABLEMINT_PRIVATE_KEY_FILE="+keys.partnerPriv,
		"STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE="+keys.sandboxPub,
	)

	// A finance account, made the way an operator would (this also
	// migrates the new database).
	cmd := exec.Command(bin, "users", "create", "--email", crashEmail, "--name", "Crash Finance", "--role", "finance", "--password-stdin")
	cmd.Env = append(baseEnv(), "PAYLINKS_DB="+dbPath)
	cmd.Stdin = strings.NewReader(crashPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("paylinks users create: %v\n%s", err, out)
	}
	hooks := startCrashHooks(t, dbPath) // outbound webhooks to a receiver here (crash_outbound_test.go)
	serve := startServeProc(t, bin, serveEnv, "serve (first run)")

	// Four signed-in browsers mint the 200 links the webhooks are for,
	// through the new-link form; two of them go on minting during the crash.
	browsers := make([]*crashBrowser, 4)
	for i := range browsers {
		browsers[i] = newCrashBrowser(t)
		browsers[i].login(t, serve.base)
	}
	links := mintCrashLinks(t, serve, dbPath, browsers, rng)
	t.Logf("setup: %d links minted through the form, %v since start", len(links), time.Since(began).Round(time.Millisecond))

	events, deliveries := makeCrashWebhooks(rng, links, keys.sandbox)
	seen := map[string]bool{}
	for _, ev := range events {
		if seen[ev.key] {
			t.Fatalf("test bug: two generated events share the key %s", ev.key)
		}
		seen[ev.key] = true
	}
	t.Logf("webhooks: %d deliveries of %d distinct events, %v since start", len(deliveries), len(events), time.Since(began).Round(time.Millisecond))

	minters := browsers[:crashMinters]

	// Phase 1: minting and webhooks in flight, then kill -9 at a random
	// point: once a random share of the deliveries has been answered, after
	// a random delay of up to 3 ms.
	killAfter := int64(crashDeliveryCount*15/100 + rng.IntN(crashDeliveryCount*60/100))
	killDelay := time.Duration(rng.IntN(3000)) * time.Microsecond
	t.Logf("kill -9 after %d answered deliveries plus %v", killAfter, killDelay)

	killed := make(chan struct{})
	var mintMu sync.Mutex
	var mints []*crashMint
	var mintWG sync.WaitGroup
	firstMint := make(chan struct{})
	var firstOnce sync.Once
	for i, b := range minters {
		mintWG.Add(1)
		go func() {
			defer mintWG.Done()
			for n := 0; ; n++ {
				select {
				case <-killed:
					return
				default:
				}
				m, err := b.newMintForm(serve.base, fmt.Sprintf("CRASH-MINT-%d-%04d", i, n), 100+int64((i*7919+n*104729)%900))
				if err != nil {
					return // the server is gone: this form was never submitted
				}
				mintMu.Lock()
				mints = append(mints, m)
				mintMu.Unlock()
				m.status, m.location, m.answerErr = b.submitMint(serve.base, m)
				if m.status == http.StatusSeeOther {
					firstOnce.Do(func() { close(firstMint) })
				}
				if m.answerErr != nil {
					select {
					case <-killed:
						return
					default:
					}
				}
			}
		}()
	}
	select {
	case <-firstMint:
	case <-time.After(20 * time.Second):
		close(killed)
		serve.kill()
		mintWG.Wait()
		t.Fatalf("no link was minted through the form within 20 s; mints so far: %s\nserve log:\n%s", describeMints(mints), serve.tail())
	}

	var answered atomic.Int64
	var next atomic.Int64
	var sendWG sync.WaitGroup
	local := senderAddrs(t)
	for s := 0; s < crashSenders; s++ {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			c := senderClient(local[s])
			defer c.CloseIdleConnections()
			for {
				select {
				case <-killed:
					return
				default:
				}
				n := int(next.Add(1)) - 1
				if n >= len(deliveries) {
					return
				}
				d := deliveries[n]
				d.tried1 = true
				for {
					d.code1, d.err1 = postCrashWebhook(c, serve.base, d.ev)
					if d.err1 != nil || d.code1 != http.StatusTooManyRequests {
						break
					}
					// Rate limited: StableMint would retry later; so do we,
					// until the kill.
					select {
					case <-killed:
					case <-time.After(25 * time.Millisecond):
						continue
					}
					break
				}
				if d.err1 == nil && d.code1/100 == 2 {
					d.acks++
				}
				answered.Add(1)
			}
		}()
	}
	killTimeout := time.After(60 * time.Second)
	for answered.Load() < killAfter {
		select {
		case <-killTimeout:
			close(killed)
			serve.kill()
			sendWG.Wait()
			mintWG.Wait()
			t.Fatalf("only %d of %d deliveries answered in 60 s; serve log:\n%s", answered.Load(), killAfter, serve.tail())
		case <-time.After(100 * time.Microsecond):
		}
	}
	time.Sleep(killDelay)
	serve.kill()
	close(killed)
	sendWG.Wait()
	mintWG.Wait()
	if !strings.Contains(serve.exitErr.Error(), "killed") {
		t.Errorf("serve ended with %v, want killed by SIGKILL", serve.exitErr)
	}

	acked1, unanswered1, refused1 := 0, 0, map[int]int{}
	for _, d := range deliveries {
		switch {
		case d.acks > 0:
			acked1++
		case d.tried1 && d.err1 != nil:
			unanswered1++
		case d.tried1:
			refused1[d.code1]++
		}
	}
	mints303 := 0
	for _, m := range mints {
		if m.status == http.StatusSeeOther {
			mints303++
		} else if m.answerErr == nil {
			t.Errorf("mint %s: POST /links answered %d, want 303 (Location %q)", m.ref, m.status, m.location)
		}
	}
	t.Logf("killed: %d deliveries answered 2xx, %d sent without an answer, non-2xx %v, %d never sent; %d forms submitted, %d answered 303; %v since start",
		acked1, unanswered1, refused1, len(deliveries)-acked1-unanswered1-countValues(refused1), len(mints), mints303, time.Since(began).Round(time.Millisecond))

	// What the crash left on disk, before anything runs again: every
	// delivery answered 2xx is there (a later redelivery of the same event
	// must not get the chance to hide a lost one), and every link whose
	// form was answered 303.
	checkCommittedAfterKill(t, dbPath, events, deliveries, mints)
	checkFiguresCmd(t, bin, dbPath, "as the kill left the file")

	// Phase 2: restart on the same file. Resend what was not acknowledged,
	// as StableMint retries; resubmit what was not answered, as a user
	// would press the button again (same form, same form token).
	firstServe := serve
	serve = startServeProc(t, bin, serveEnv, "serve (after the kill)")
	var pending []*crashDelivery
	for _, d := range deliveries {
		if d.acks == 0 {
			pending = append(pending, d)
		}
	}
	resendErrs := resendCrashWebhooks(serve.base, pending, local)
	for _, m := range mints {
		if m.status == http.StatusSeeOther {
			continue
		}
		m.resubmitted = true
		m.status, m.location, m.answerErr = m.browser.submitMint(serve.base, m)
		if m.status != http.StatusSeeOther {
			t.Errorf("mint %s resubmitted after the restart: status %d, err %v, want 303", m.ref, m.status, m.answerErr)
		}
	}
	if len(resendErrs) > 0 {
		t.Fatalf("after the restart %d deliveries were never acknowledged, first: %v\nserve log:\n%s", len(resendErrs), resendErrs[0], serve.tail())
	}
	waitNoneCreating(t, dbPath, serve)
	hooks.waitDelivered(t, dbPath, serve)
	if err := serve.stop(); err != nil {
		t.Errorf("stopping serve after recovery: %v\n%s", err, serve.tail())
	}
	t.Logf("recovered: %d deliveries resent, %d forms resubmitted; %v since start", len(pending), len(mints)-mints303, time.Since(began).Round(time.Millisecond))

	sessions := sandboxSessions(t, sbURL)
	checkFinal(t, dbPath, links, events, deliveries, mints, sessions)
	checkFiguresCmd(t, bin, dbPath, "after recovery")
	hooks.check(t, dbPath)
	for _, p := range []*crashProc{firstServe, serve} {
		for line := range strings.Lines(p.stderr.String()) {
			if strings.Contains(line, "level=ERROR") {
				t.Logf("%s logged: %s", p.name, strings.TrimSpace(line))
			}
		}
	}
	if t.Failed() {
		t.Logf("process output:\n== %s\n%s\n== %s\n%s\n== sandbox\n%s", firstServe.name, firstServe.tail(), serve.name, serve.tail(), sb.tail())
	}
	t.Logf("done in %v", time.Since(began).Round(time.Millisecond))
}

// checkFiguresCmd runs `paylinks figures check` on the file: the figures
// change in the transaction that changes a link, so no crash can leave
// them apart.
func checkFiguresCmd(t *testing.T, bin, dbPath, when string) {
	t.Helper()
	cmd := exec.Command(bin, "figures", "check")
	cmd.Env = append(baseEnv(), "PAYLINKS_DB="+dbPath, "PAYLINKS_LOG_LEVEL=warn")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "figures ok") {
		t.Errorf("paylinks figures check %s: %v\n%s", when, err, out)
	}
}

// ---- processes ----

// buildPaylinks builds cmd/paylinks once for this test, without -race:
// the processes under test run at production speed.
// crashSeed is PAYLINKS_CRASH_SEED, to replay a crash test's kill point,
// or a new seed.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	s := os.Getenv("PAYLINKS_CRASH_SEED")
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("PAYLINKS_CRASH_SEED=%q: %v", s, err)
	}
	return v
}

// startCrashSandbox starts the sandbox as a process of its own (it
// outlives a killed serve) with the crash keys, and returns its address.
func startCrashSandbox(t *testing.T, bin string, keys crashKeys) (*crashProc, string) {
	t.Helper()
	sb := startCrashProc(t, "sandbox", bin, baseEnv(),
		"sandbox", "--addr", "127.0.0.1:0", "--api-key", crashAPIKey, "--api-secret", keys.secret,
		"--partner-public-key", keys.partnerPub, "--key", keys.sandboxPriv)
	return sb, sb.waitFor(t, regexp.MustCompile(`sandbox listening on (http://\S+)`), 15*time.Second)
}

func buildPaylinks(t *testing.T) string {
	t.Helper()
	goBin := ""
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			goBin = p
		}
	}
	if goBin == "" {
		p, err := exec.LookPath("go")
		if err != nil {
			t.Fatalf("the go command is needed to build paylinks: %v", err)
		}
		goBin = p
	}
	bin := filepath.Join(t.TempDir(), "paylinks")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// baseEnv is a clean environment: nothing of the developer's PAYLINKS_* or
// STABLEMINT_* leaks into the processes under test.
func baseEnv() []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

type crashProc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	exitErr        error // set before done is closed
	base           string
}

func startCrashProc(t *testing.T, name, bin string, env []string, args ...string) *crashProc {
	t.Helper()
	p := &crashProc{name: name, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		p.exitErr = err
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}

// waitFor waits for re to match the process's standard output and returns
// its first group.
func (p *crashProc) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited early (%v):\n%s", p.name, p.exitErr, p.tail())
		case <-deadline:
			t.Fatalf("%s did not print %q within %v:\n%s", p.name, re, timeout, p.tail())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func startServeProc(t *testing.T, bin string, env []string, name string) *crashProc {
	t.Helper()
	p := startCrashProc(t, name, bin, env, "serve")
	p.base = p.waitFor(t, regexp.MustCompile(`listening on (http://\S+)`), 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /healthz not OK within 10 s (%v):\n%s", name, err, p.tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill is kill -9; it returns once the process is gone.
func (p *crashProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop asks for a graceful shutdown (SIGTERM) and expects exit status 0.
func (p *crashProc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
		return fmt.Errorf("%s did not stop within 20 s of SIGTERM", p.name)
	}
	if p.exitErr.Error() != "exit status 0" {
		return fmt.Errorf("%s: %v", p.name, p.exitErr)
	}
	return nil
}

// tail is the end of the process's output, for failure messages.
func (p *crashProc) tail() string {
	s := "--- stdout\n" + p.stdout.String() + "--- stderr\n" + p.stderr.String()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}

// ---- keys ----

type crashKeys struct {
	secret                  string
	sandbox                 *rsa.PrivateKey
	partnerPriv, partnerPub string // PEM files
	sandboxPriv, sandboxPub string
}

// writeCrashKeys makes the partner's request-signing pair and the sandbox's
// webhook-signing pair, each as PEM files in dir.
func writeCrashKeys(t *testing.T, dir string) crashKeys {
	t.Helper()
	kdir := filepath.Join(dir, "keys")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(kdir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pair := func(name string) (*rsa.PrivateKey, string, string) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return k, write(name+"-private.pem", "PRIVATE KEY", priv), write(name+"-public.pem", "PUBLIC KEY", pub)
	}
	var ks crashKeys
	_, ks.partnerPriv, ks.partnerPub = pair("partner")
	ks.sandbox, ks.sandboxPriv, ks.sandboxPub = pair("sandbox")
	ks.secret = rand.Text()
	return ks
}

// ---- the 200 links ----

type crashLink struct {
	id                                 int64
	key, ref, website, customer, email string
	minor                              int64
}

func amountText(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

// crashUUID is a version-4-shaped UUID from the seeded generator.
func crashUUID(rng *mrand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff,
		0x8000|rng.Uint32()&0x3fff, rng.Uint64()&0xffffffffffff)
}

// openReader opens the database file read-only (query_only), as an
// operator would inspect it.
func openReader(t *testing.T, dbPath string) *sql.DB {
	t.Helper()
	r, err := sql.Open("sqlite", db.DSN(dbPath, true))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mintCrashLinks mints the webhook links through the form, a few browsers
// at a time, and reads back what the database holds for each.
func mintCrashLinks(t *testing.T, serve *crashProc, dbPath string, browsers []*crashBrowser, rng *mrand.Rand) []crashLink {
	t.Helper()
	minor := make([]int64, crashLinkCount)
	for i := range minor {
		minor[i] = 100 + rng.Int64N(900) // 1.00 to 9.99 EUR: inside the sandbox's 0.1–10
	}
	ids := make([]int64, crashLinkCount)
	errs := make([]error, crashLinkCount)
	var wg sync.WaitGroup
	for w, b := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// These are fixtures: one GET of the form per browser, then one
			// POST per link, each without a form token (the handler makes
			// one), so each POST is a new submission.
			tmpl, err := b.newMintForm(serve.base, "", 0)
			if err != nil {
				errs[w] = err
				return
			}
			tmpl.form.Del("form_token")
			for i := w; i < crashLinkCount; i += len(browsers) {
				m := &crashMint{browser: b, form: url.Values{}}
				for k, v := range tmpl.form {
					m.form[k] = slices.Clone(v)
				}
				m.fill(fmt.Sprintf("INV-WH-%03d", i), minor[i])
				status, loc, err := b.submitMint(serve.base, m)
				if ids[i] = locationID(loc); err != nil || status != http.StatusSeeOther || ids[i] == 0 {
					errs[i] = fmt.Errorf("POST /links: status %d, Location %q, err %v; want 303 to /links/{id}", status, loc, err)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("minting the webhook links: %v\n%s", err, serve.tail())
	}

	r := openReader(t, dbPath)
	defer r.Close()
	links := make([]crashLink, crashLinkCount)
	for i, id := range ids {
		l := &links[i]
		var status string
		err := r.QueryRow(`SELECT id, idempotency_key, COALESCE(sm_reference, ''), website_reference, customer_id,
			customer_email, amount_minor, status FROM links WHERE id = ?`, id).Scan(
			&l.id, &l.key, &l.ref, &l.website, &l.customer, &l.email, &l.minor, &status)
		if err != nil || status != string(paylink.StatusOpen) || l.ref == "" || l.minor != minor[i] {
			t.Fatalf("link #%d after minting: status %q, reference %q, amount %d (want open, a reference, %d): %v",
				id, status, l.ref, l.minor, minor[i], err)
		}
	}
	return links
}

// ---- webhooks ----

type crashEvent struct {
	key      string // eventId, else the hex SHA-256 of the body (the contract's event identity)
	link     *crashLink
	family   string
	typ      string
	effect   string // from the contract's status table
	mismatch bool   // amount differs from the link's
	body     []byte
	ts, sig  string
}

type crashDelivery struct {
	ev     *crashEvent
	tried1 bool  // sent before the kill
	code1  int   // its answer, if any
	err1   error // no answer
	acks   int   // 2xx answers, both phases
}

// specEffect is the contract's "Event to link status" table
// (docs/stablemint.md), written out here rather than taken from the code
// under test. Types outside the table change no link.
func specEffect(typ string) string {
	switch typ {
	case "InwardPaymentReconciled":
		return "paid"
	case "InwardPaymentFailed":
		return "failed"
	}
	switch strings.TrimPrefix(typ, "partner.customer.deposit.") {
	case "created", "initiated", "submitted":
		return "processing"
	case "reconciled", "accepted":
		return "paid"
	case "completed":
		return "settled"
	case "failed":
		return "failed"
	}
	return "none"
}

// replayStatus applies events, in order, to a link that starts open, by the
// contract's rules: status only moves forward (open < processing < paid <
// settled); failed ends a link not yet paid and nothing moves a failed link;
// a payment whose amount differs from the link's changes nothing and flags
// the link for review; types outside the table change nothing.
func replayStatus(evs []*crashEvent) (status string, review bool, trace []string) {
	rank := map[string]int{"open": 0, "processing": 1, "paid": 2, "settled": 3}
	status = "open"
	for _, ev := range evs {
		before := status
		switch {
		case ev.effect == "none":
		case ev.effect == "failed":
			if status == "open" || status == "processing" {
				status = "failed"
			}
		case ev.mismatch && ev.effect != "processing":
			review = true
		case status == "failed":
		case rank[ev.effect] > rank[status]:
			status = ev.effect
		}
		note := ""
		if ev.mismatch {
			note = ", wrong amount"
		}
		trace = append(trace, fmt.Sprintf("%s (%s%s): %s → %s", ev.typ, ev.effect, note, before, status))
	}
	return status, review, trace
}

const depositPrefix = "partner.customer.deposit."

// crashStory picks a family and the distinct event types one link gets:
// a payment, a failure, or both (the order they are stored in decides),
// with some events that change no link and, for some links, a payment for
// the wrong amount.
func crashStory(rng *mrand.Rand) (family string, types []string, wrongAmount string) {
	some := func(pool ...string) []string {
		p := slices.Clone(pool)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		return p[:1+rng.IntN(len(p))]
	}
	dep := func(stages ...string) []string {
		out := make([]string, len(stages))
		for i, s := range stages {
			out[i] = depositPrefix + s
		}
		return out
	}
	scenario := rng.IntN(4) // 0, 1: paid; 2: failed; 3: failed and paid
	switch f := rng.IntN(20); {
	case f < 9:
		family = "v2"
		types = dep(some("created", "initiated", "submitted")...)
		switch scenario {
		case 0, 1:
			types = append(types, depositPrefix+"accepted")
			if rng.IntN(10) < 6 {
				types = append(types, depositPrefix+"completed")
			}
		case 2:
			types = append(types, depositPrefix+"failed")
		case 3:
			types = append(types, depositPrefix+"failed", depositPrefix+"accepted")
			if rng.IntN(2) == 0 {
				types = append(types, depositPrefix+"completed")
			}
		}
		if rng.IntN(10) < 3 {
			types = append(types, "transaction.status.changed")
		}
		if rng.IntN(10) < 1 {
			types = append(types, "customer.token.transfer.in.initiated")
		}
		wrongAmount = depositPrefix + "accepted"
	case f < 16:
		family = "partner"
		types = dep(some("created", "submitted")...)
		switch scenario {
		case 0, 1:
			types = append(types, dep(some("reconciled", "accepted")...)...)
		case 2:
			types = append(types, depositPrefix+"failed")
		case 3:
			types = append(types, depositPrefix+"failed", depositPrefix+"accepted")
		}
		if rng.IntN(10) < 3 {
			types = append(types, "partner.customer.withdrawal.created")
		}
		wrongAmount = depositPrefix + "reconciled"
	default:
		family = "legacy"
		switch scenario {
		case 0, 1:
			types = []string{"InwardPaymentReconciled"}
		case 2:
			types = []string{"InwardPaymentFailed"}
		case 3:
			types = []string{"InwardPaymentFailed", "InwardPaymentReconciled"}
		}
		wrongAmount = "InwardPaymentReconciled"
	}
	if rng.IntN(10) != 0 {
		wrongAmount = ""
	}
	return family, types, wrongAmount
}

// crashEventBody writes an event as StableMint documents its family. Most
// carry the link's idempotency key; the rest are matched by the session
// reference alone.
func crashEventBody(rng *mrand.Rand, family, typ string, l *crashLink, minor int64) (body []byte, key string) {
	var idem any = l.key
	if rng.IntN(5) == 0 {
		idem = nil
	}
	dep := "DEP" + strings.ToUpper(hex.EncodeToString([]byte(l.ref))[:16])
	var e2e any
	if eff := specEffect(typ); eff != "processing" && eff != "failed" || strings.HasSuffix(typ, ".submitted") {
		e2e = "E2E" + dep[3:]
	}
	amount := json.Number(amountText(minor))
	var v any
	switch family {
	case "v2":
		id := crashUUID(rng)
		v = map[string]any{"eventId": id, "data": map[string]any{
			"eventType": typ, "timestamp": time.Now().UTC().Format(time.RFC3339), "sessionId": l.ref,
			"reference": dep, "idempotencyKey": idem, "websiteReference": l.website, "customFields": nil,
			"amount": amount, "currency": "EUR", "customerId": l.customer, "customerEmail": l.email,
			"endToEndId": e2e, "paymentMethod": "BANK_TRANSFER", "paymentCountryCode": "DE",
		}}
		key = id
	case "partner":
		v = map[string]any{"notificationType": typ, "partnerId": "PARTNER-CRASH", "customerId": l.customer,
			"reference": dep, "amount": amount, "currency": "EUR", "sessionId": l.ref, "endToEndId": e2e,
			"externalPaymentId": e2e, "paymentCountry": "DE", "paymentMethod": "BANK_TRANSFER",
			"customerEmail": l.email, "customerFullName": nil, "idempotencyKey": idem,
			"websiteReference": l.website, "customFields": nil}
	default:
		status := "RECONCILED"
		if typ == "InwardPaymentFailed" {
			status = "FAILED"
		}
		v = map[string]any{"notificationType": typ, "sessionId": l.ref, "amount": amount, "currency": "EUR",
			"paymentMethod": "BANK_TRANSFER", "paymentReference": dep, "userId": l.customer,
			"userCountryCode": "DE", "idempotencyKey": idem, "websiteReference": l.website, "customFields": nil,
			"accountBicCode": "SMNTDEFFXXX", "accountName": "StableMint Client Money", "accountAddress": "Berlin",
			"accountIban": "DE89370400440532013000", "status": status}
	}
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if key == "" {
		sum := sha256.Sum256(body)
		key = hex.EncodeToString(sum[:])
	}
	return body, key
}

// makeCrashWebhooks builds the events of every link, ten deliveries per
// link (each event at least once, the rest duplicates), shuffled together,
// and signs each event once, as StableMint does: RSA PKCS#1 v1.5 SHA-256
// over "<StableMint-Timestamp>,<raw body>", Base64.
func makeCrashWebhooks(rng *mrand.Rand, links []crashLink, key *rsa.PrivateKey) ([]*crashEvent, []*crashDelivery) {
	per := crashDeliveryCount / len(links)
	var events []*crashEvent
	var deliveries []*crashDelivery
	for i := range links {
		l := &links[i]
		family, types, wrong := crashStory(rng)
		var evs []*crashEvent
		add := func(typ string, minor int64) {
			body, k := crashEventBody(rng, family, typ, l, minor)
			evs = append(evs, &crashEvent{key: k, link: l, family: family, typ: typ, effect: specEffect(typ),
				mismatch: minor != l.minor, body: body})
		}
		for _, typ := range types {
			add(typ, l.minor)
		}
		if wrong != "" {
			add(wrong, l.minor+1)
		}
		for j := 0; j < per; j++ {
			ev := evs[j%len(evs)]
			if j >= len(evs) {
				ev = evs[rng.IntN(len(evs))]
			}
			deliveries = append(deliveries, &crashDelivery{ev: ev})
		}
		events = append(events, evs...)
	}
	rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	ts := time.Now().UTC().Format(time.RFC3339)
	var wg sync.WaitGroup
	const signers = 2
	for w := range signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(events); i += signers {
				ev := events[i]
				h := sha256.New()
				h.Write([]byte(ts))
				h.Write([]byte{','})
				h.Write(ev.body)
				sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h.Sum(nil))
				if err != nil {
					panic(err)
				}
				ev.ts, ev.sig = ts, base64.StdEncoding.EncodeToString(sig)
			}
		}()
	}
	wg.Wait()
	return events, deliveries
}

// senderAddrs gives each sender its own loopback source address, as
// StableMint delivers from several machines; serve rate-limits webhooks per
// client IP. Where only 127.0.0.1 is usable, all share it and 429s are
// retried.
func senderAddrs(t *testing.T) []net.IP {
	t.Helper()
	out := make([]net.IP, crashSenders)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Logf("no loopback address besides 127.0.0.1 (%v): all senders share one, and its rate limit", err)
		return out
	}
	ln.Close()
	for i := range out {
		out[i] = net.IPv4(127, 0, 0, byte(10+i))
	}
	return out
}

func senderClient(local net.IP) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2}}
}

func postCrashWebhook(c *http.Client, base string, ev *crashEvent) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/stablemint", bytes.NewReader(ev.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header["StableMint-Timestamp"] = []string{ev.ts}
	req.Header["StableMint-Signature"] = []string{ev.sig}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// resendCrashWebhooks delivers each pending delivery until it is answered
// 2xx (StableMint retries), with a deadline.
func resendCrashWebhooks(base string, pending []*crashDelivery, local []net.IP) []error {
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	deadline := time.Now().Add(40 * time.Second)
	for s := 0; s < crashSenders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := senderClient(local[s])
			defer c.CloseIdleConnections()
			for {
				n := int(next.Add(1)) - 1
				if n >= len(pending) {
					return
				}
				d := pending[n]
				for {
					code, err := postCrashWebhook(c, base, d.ev)
					if err == nil && code/100 == 2 {
						d.acks++
						break
					}
					if time.Now().After(deadline) {
						mu.Lock()
						errs = append(errs, fmt.Errorf("event %s (%s, link #%d): last answer %d, %v", d.ev.key, d.ev.typ, d.ev.link.id, code, err))
						mu.Unlock()
						break
					}
					wait := 10 * time.Millisecond
					if code == http.StatusTooManyRequests {
						wait = 100 * time.Millisecond
					}
					time.Sleep(wait)
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

// ---- minting through the form ----

type crashBrowser struct {
	c *http.Client
}

func newCrashBrowser(t *testing.T) *crashBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &crashBrowser{c: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *crashBrowser) getDoc(url string) (*goquery.Document, int, error) {
	resp, err := b.c.Get(url)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(raw))
	return doc, resp.StatusCode, err
}

func (b *crashBrowser) post(url string, form url.Values) (status int, location string, err error) {
	resp, err := b.c.PostForm(url, form)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, "", err
	}
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

func (b *crashBrowser) login(t *testing.T, base string) {
	t.Helper()
	doc, status, err := b.getDoc(base + "/login")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /login: %d %v", status, err)
	}
	tok, _ := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	st, loc, err := b.post(base+"/login", url.Values{"_csrf": {tok}, "email": {crashEmail}, "password": {crashPassword}})
	if err != nil || st != http.StatusSeeOther || strings.HasPrefix(loc, "/login") {
		t.Fatalf("sign in: status %d, Location %q, err %v; want 303 away from /login", st, loc, err)
	}
}

// crashMint is one submission of the new-link form.
type crashMint struct {
	browser     *crashBrowser
	ref         string     // its website reference, unique to it
	form        url.Values // exactly what is posted, form token and CSRF token included
	status      int        // the last POST's answer; 0 when none came
	location    string
	answerErr   error
	resubmitted bool
}

// newMintForm GETs the new-link form and fills it in as a user would,
// keeping its hidden fields (CSRF token, form token) and prefilled URLs.
func (b *crashBrowser) newMintForm(base, ref string, minor int64) (*crashMint, error) {
	doc, status, err := b.getDoc(base + "/links/new")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /links/new: %d", status)
	}
	form := url.Values{}
	doc.Find(`form.link-form input[name]`).Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		value, _ := s.Attr("value")
		form.Add(name, value)
	})
	if form.Get("form_token") == "" || form.Get("_csrf") == "" {
		return nil, errors.New("the new-link form has no form_token or _csrf")
	}
	m := &crashMint{browser: b, form: form}
	m.fill(ref, minor)
	return m, nil
}

// fill types in a customer, an amount in EUR and ref as the website reference.
func (m *crashMint) fill(ref string, minor int64) {
	m.ref = ref
	m.form.Set("userId", "CUST-"+ref)
	m.form.Set("userEmail", strings.ToLower(ref)+"@example.com")
	m.form.Set("userCountryCode", "DE")
	m.form.Set("currency", "EUR")
	m.form.Set("amount", amountText(minor))
	m.form.Set("websiteReference", ref)
}

func (b *crashBrowser) submitMint(base string, m *crashMint) (int, string, error) {
	return b.post(base+"/links", m.form)
}

// locationID is the link id of a "/links/{id}" redirect, or 0.
func locationID(loc string) int64 {
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/links/"), 10, 64)
	if err != nil || !strings.HasPrefix(loc, "/links/") {
		return 0
	}
	return id
}

func describeMints(ms []*crashMint) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s: %d %v; ", m.ref, m.status, m.answerErr)
	}
	return b.String()
}

func countValues(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// waitNoneCreating waits for serve to leave no link in creating: links the
// kill left mid-call are re-sent at start-up with their stored key.
func waitNoneCreating(t *testing.T, dbPath string, serve *crashProc) {
	t.Helper()
	r := openReader(t, dbPath)
	defer r.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ids string
		if err := r.QueryRow("SELECT COALESCE(group_concat(id, ', '), '') FROM links WHERE status = 'creating'").Scan(&ids); err != nil {
			t.Fatal(err)
		}
		if ids == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("links still creating 30 s after the restart: #%s\nserve log:\n%s", ids, serve.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- checks ----

// limitedErrors reports the first few failures of one kind and counts the
// rest, so a broken guarantee reads as a list, not a flood.
type limitedErrors struct {
	t     *testing.T
	what  string
	n     int
	limit int
}

func (l *limitedErrors) add(format string, args ...any) {
	l.t.Helper()
	l.n++
	if l.n <= l.limit {
		l.t.Errorf(l.what+": "+format, args...)
	}
}

func (l *limitedErrors) done() {
	l.t.Helper()
	if l.n > l.limit {
		l.t.Errorf("%s: … and %d more like these (%d in all)", l.what, l.n-l.limit, l.n)
	}
}

type storedEvent struct {
	id, link int64
	key, typ string
}

// readStored reads the event rows in the order they were stored and how
// many delivery rows (the event's own and its duplicates) each key has.
func readStored(t *testing.T, r *sql.DB) (evs []storedEvent, deliveriesByKey map[string]int, rejected int) {
	t.Helper()
	rows, err := r.Query("SELECT id, event_key, COALESCE(link_id, 0), type FROM webhook_deliveries WHERE kind = 'event' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var e storedEvent
		if err := rows.Scan(&e.id, &e.key, &e.link, &e.typ); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	deliveriesByKey = map[string]int{}
	for _, e := range evs {
		deliveriesByKey[e.key]++
	}
	rows2, err := r.Query(`SELECT e.event_key, count(*) FROM webhook_deliveries d
		JOIN webhook_deliveries e ON e.id = d.event_id WHERE d.kind = 'duplicate' GROUP BY e.event_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows2.Close()
	for rows2.Next() {
		var k string
		var n int
		if err := rows2.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		deliveriesByKey[k] += n
	}
	if err := rows2.Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.QueryRow("SELECT count(*) FROM webhook_deliveries WHERE kind = 'rejected'").Scan(&rejected); err != nil {
		t.Fatal(err)
	}
	return evs, deliveriesByKey, rejected
}

// checkStoredEvents checks every stored event is one of ours, stored once,
// against its own link, and that each event has at least as many delivery
// rows as 2xx answers it got. It returns the events by key.
func checkStoredEvents(t *testing.T, when string, stored []storedEvent, byKeyRows map[string]int, events []*crashEvent, deliveries []*crashDelivery) map[string][]storedEvent {
	t.Helper()
	ours := map[string]*crashEvent{}
	for _, ev := range events {
		ours[ev.key] = ev
	}
	byKey := map[string][]storedEvent{}
	for _, s := range stored {
		byKey[s.key] = append(byKey[s.key], s)
	}
	twice := &limitedErrors{t: t, what: when + ": event stored more than once", limit: 10}
	stray := &limitedErrors{t: t, what: when + ": stored event is none of those sent", limit: 5}
	wrongLink := &limitedErrors{t: t, what: when + ": event stored against the wrong link", limit: 10}
	for k, ss := range byKey {
		ev := ours[k]
		switch {
		case ev == nil:
			stray.add("key %s (type %s, row #%d)", k, ss[0].typ, ss[0].id)
			continue
		case len(ss) > 1:
			ids := []string{}
			for _, s := range ss {
				ids = append(ids, "#"+strconv.FormatInt(s.id, 10))
			}
			twice.add("event %s (%s, link #%d) is stored %d times: rows %s", k, ev.typ, ev.link.id, len(ss), strings.Join(ids, ", "))
		}
		for _, s := range ss {
			if s.link != ev.link.id {
				wrongLink.add("event %s (%s) is on link #%d, want link #%d", k, ev.typ, s.link, ev.link.id)
			}
		}
	}
	twice.done()
	stray.done()
	wrongLink.done()

	acks := map[*crashEvent]int{}
	for _, d := range deliveries {
		acks[d.ev] += d.acks
	}
	lost := &limitedErrors{t: t, what: when + ": event answered 2xx but not stored", limit: 10}
	unrecorded := &limitedErrors{t: t, what: when + ": more 2xx answers than recorded deliveries", limit: 10}
	for _, ev := range events {
		n := acks[ev]
		switch {
		case n == 0:
		case len(byKey[ev.key]) == 0:
			lost.add("event %s (%s family, %s) for link #%d was acknowledged %d time(s) and is not in webhook_deliveries",
				ev.key, ev.family, ev.typ, ev.link.id, n)
		case byKeyRows[ev.key] < n:
			unrecorded.add("event %s (%s, link #%d) was acknowledged %d times, only %d deliveries are recorded",
				ev.key, ev.typ, ev.link.id, n, byKeyRows[ev.key])
		}
	}
	lost.done()
	unrecorded.done()
	return byKey
}

// checkCommittedAfterKill reads the file as SIGKILL left it.
func checkCommittedAfterKill(t *testing.T, dbPath string, events []*crashEvent, deliveries []*crashDelivery, mints []*crashMint) {
	t.Helper()
	r := openReader(t, dbPath)
	defer r.Close()
	var integrity string
	if err := r.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("after the kill: integrity_check %q, %v", integrity, err)
	}
	stored, rowsByKey, rejected := readStored(t, r)
	if rejected > 0 {
		t.Errorf("after the kill: %d deliveries were refused; every one sent was correctly signed", rejected)
	}
	checkStoredEvents(t, "after the kill", stored, rowsByKey, events, deliveries)

	lost := &limitedErrors{t: t, what: "after the kill: link answered 303 but not committed", limit: 10}
	unanswered := map[string]int{}
	for _, m := range mints {
		if m.status != http.StatusSeeOther {
			state := "not committed"
			if err := r.QueryRow("SELECT status FROM links WHERE form_token = ?", m.form.Get("form_token")).Scan(&state); err != nil && !errors.Is(err, sql.ErrNoRows) {
				t.Fatal(err)
			}
			unanswered[state]++
			continue
		}
		want := locationID(m.location)
		var id int64
		err := r.QueryRow("SELECT id FROM links WHERE form_token = ?", m.form.Get("form_token")).Scan(&id)
		if err != nil || id != want {
			lost.add("form %s was redirected to %s, but the file has link %d for its form token (%v)", m.ref, m.location, id, err)
		}
	}
	lost.done()
	var creating int
	if err := r.QueryRow("SELECT count(*) FROM links WHERE status = 'creating'").Scan(&creating); err != nil {
		t.Fatal(err)
	}
	t.Logf("after the kill: forms without an answer, by the state of their link: %v; links left creating: %d", unanswered, creating)
}

type sandboxSession struct {
	Reference      string `json:"reference"`
	IdempotencyKey string `json:"idempotencyKey"`
	Status         string `json:"status"`
}

func sandboxSessions(t *testing.T, sbURL string) []sandboxSession {
	t.Helper()
	resp, err := http.Get(sbURL + "/_sandbox/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []sandboxSession
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sandbox/sessions: %d %v", resp.StatusCode, err)
	}
	return out
}

type dbLink struct {
	id                                         int64
	key, formToken, website, status, reference string
	review                                     bool
}

func checkFinal(t *testing.T, dbPath string, links []crashLink, events []*crashEvent, deliveries []*crashDelivery, mints []*crashMint, sessions []sandboxSession) {
	t.Helper()
	r := openReader(t, dbPath)
	defer r.Close()
	var integrity string
	if err := r.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("after recovery: integrity_check %q, %v", integrity, err)
	}

	// Webhooks: every event stored exactly once, on its link.
	stored, rowsByKey, rejected := readStored(t, r)
	if rejected > 0 {
		t.Errorf("after recovery: %d deliveries were refused; every one sent was correctly signed", rejected)
	}
	byKey := checkStoredEvents(t, "after recovery", stored, rowsByKey, events, deliveries)
	missing := &limitedErrors{t: t, what: "after recovery: event acknowledged in the end but not stored", limit: 10}
	for _, ev := range events {
		if len(byKey[ev.key]) == 0 {
			missing.add("event %s (%s, link #%d)", ev.key, ev.typ, ev.link.id)
		}
	}
	missing.done()

	// Links.
	rows, err := r.Query("SELECT id, idempotency_key, COALESCE(form_token, ''), website_reference, status, COALESCE(sm_reference, ''), needs_review FROM links ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var all []dbLink
	for rows.Next() {
		var l dbLink
		if err := rows.Scan(&l.id, &l.key, &l.formToken, &l.website, &l.status, &l.reference, &l.review); err != nil {
			t.Fatal(err)
		}
		all = append(all, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	byID := map[int64]dbLink{}
	for _, l := range all {
		byID[l.id] = l
	}

	// Each link's status is the replay of its stored events, in stored order.
	ours := map[string]*crashEvent{}
	for _, ev := range events {
		ours[ev.key] = ev
	}
	perLink := map[int64][]*crashEvent{}
	for _, s := range stored {
		if ev := ours[s.key]; ev != nil {
			perLink[s.link] = append(perLink[s.link], ev)
		}
	}
	wrongStatus := &limitedErrors{t: t, what: "after recovery: link status is not the replay of its stored events", limit: 10}
	unflagged := &limitedErrors{t: t, what: "after recovery: payment for the wrong amount not flagged", limit: 5}
	final := map[string]int{}
	for _, cl := range links {
		got := byID[cl.id]
		want, review, trace := replayStatus(perLink[cl.id])
		final[want]++
		if got.status != want {
			wrongStatus.add("link #%d: status %q, want %q from its %d stored events: %s",
				cl.id, got.status, want, len(trace), strings.Join(trace, "; "))
		}
		if review && !got.review {
			unflagged.add("link #%d received a payment for another amount but needs_review is false", cl.id)
		}
	}
	wrongStatus.done()
	unflagged.done()
	t.Logf("webhook links by replayed status: %v", final)

	// Minting: every form submission made exactly one link, open, with a
	// session; nothing else was made.
	byToken := map[string][]dbLink{}
	byWebsite := map[string][]dbLink{}
	for _, l := range all {
		byToken[l.formToken] = append(byToken[l.formToken], l)
		byWebsite[l.website] = append(byWebsite[l.website], l)
	}
	mintErrs := &limitedErrors{t: t, what: "after recovery: minted link", limit: 10}
	for _, m := range mints {
		name := "form " + m.ref
		if m.resubmitted {
			name += " (resubmitted after the restart)"
		}
		ls := byToken[m.form.Get("form_token")]
		if len(ls) != 1 || len(byWebsite[m.ref]) != 1 {
			mintErrs.add("%s: %d links with its form token and %d with its website reference, want exactly 1",
				name, len(ls), len(byWebsite[m.ref]))
			continue
		}
		l := ls[0]
		if m.status == http.StatusSeeOther && locationID(m.location) != l.id {
			mintErrs.add("%s was redirected to %s but its link is #%d", name, m.location, l.id)
		}
		if l.status != string(paylink.StatusOpen) || l.reference == "" {
			mintErrs.add("%s: link #%d is %q with session %q, want open with a session", name, l.id, l.status, l.reference)
		}
	}
	mintErrs.done()
	if want := len(links) + len(mints); len(all) != want {
		t.Errorf("after recovery: %d links in the database, want %d (%d for webhooks + %d form submissions)", len(all), want, len(links), len(mints))
	}

	// The sandbox: one session per idempotency key, one per link, and none
	// for a key the database does not hold.
	sessByKey := map[string][]sandboxSession{}
	sessByRef := map[string][]sandboxSession{}
	for _, s := range sessions {
		sessByKey[s.IdempotencyKey] = append(sessByKey[s.IdempotencyKey], s)
		sessByRef[s.Reference] = append(sessByRef[s.Reference], s)
	}
	linkByKey := map[string]dbLink{}
	for _, l := range all {
		linkByKey[l.key] = l
	}
	sbErrs := &limitedErrors{t: t, what: "after recovery: sandbox sessions", limit: 10}
	for k, ss := range sessByKey {
		if len(ss) > 1 {
			refs := []string{}
			for _, s := range ss {
				refs = append(refs, s.Reference)
			}
			sbErrs.add("idempotency key %s has %d sessions: %s", k, len(ss), strings.Join(refs, ", "))
		}
		if l, ok := linkByKey[k]; !ok {
			sbErrs.add("session %s has idempotency key %q, which no link in the database holds", ss[0].Reference, k)
		} else if l.reference != ss[0].Reference {
			sbErrs.add("session %s (key %s) belongs to link #%d, whose reference is %q", ss[0].Reference, k, l.id, l.reference)
		}
	}
	for _, l := range all {
		ss := sessByRef[l.reference]
		switch {
		case l.reference == "":
			sbErrs.add("link #%d (%s) has no session reference", l.id, l.status)
		case len(ss) != 1:
			sbErrs.add("link #%d: reference %s matches %d sandbox sessions, want 1", l.id, l.reference, len(ss))
		case ss[0].IdempotencyKey != l.key:
			sbErrs.add("link #%d: session %s has idempotency key %q, the link %q", l.id, l.reference, ss[0].IdempotencyKey, l.key)
		}
	}
	if len(sessions) != len(all) {
		sbErrs.add("%d sessions for %d links", len(sessions), len(all))
	}
	sbErrs.done()
}
