package main

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail/smtptest"
)

const (
	// confirmCrashRows is the file's size: 10 chunks of db.ImportChunk
	// rows, so that the confirmation is still making links when the test
	// sees its first chunks committed.
	confirmCrashRows = 2500
	// Every confirmCrashEmailEvery-th row asks for its customer to be
	// emailed the link ("email" yes); the others say no.
	confirmCrashEmailEvery = 4
)

// TestCrashKill9DuringImportConfirm: a 2,500-row CSV is uploaded, checked
// and confirmed through the import pages of a real `paylinks serve`, on a
// real SQLite file, with StableMint's sandbox and an SMTP server outside
// serve. The confirmation commits the rows first, then their links a chunk
// at a time (db.Store.CreateImportBatch); serve is killed with SIGKILL
// between two chunks, when the file shows some rows with their link and
// others still pending (a seeded number of chunks in). Links are seldom
// sent to StableMint by then: the import job makes pending rows' links
// before it sends any (links.BatchMinter.Run); the log says how many
// were. Then serve is
// restarted on the same file, the user presses Confirm again (the answer
// they never got), and the import finishes by itself. The test checks what
// finance would look at:
//
//   - every row of the file has exactly one link, its own, with the
//     idempotency key chosen at confirmation, open at StableMint, and no
//     link is made twice for a customer;
//   - StableMint holds exactly one session per link's idempotency key,
//     and none for a key no link holds;
//   - each customer whose row asked for an email got exactly one email
//     (one Message-ID: the email of their link's outbox row), the others
//     none;
//   - the import's page says it finished, with every row's link made and
//     the emails counted;
//   - `paylinks figures check` passes, as the kill left the file and at
//     the end.
//
// A failure names the seed; PAYLINKS_CRASH_SEED=<seed> replays the same
// kill point (thread timing still varies).
func TestCrashKill9DuringImportConfirm(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds the binary and runs real processes; skipped with -short")
	}
	began := time.Now()
	seed := crashSeed(t)
	rng := mrand.New(mrand.NewPCG(seed, 0x5eed_c0f1))
	const rows = confirmCrashRows
	chunks := (rows + db.ImportChunk - 1) / db.ImportChunk
	// Kill once at least killChunks chunks are committed and rows are still
	// pending: between the first chunk and the last two.
	killChunks := 1 + rng.IntN(chunks-2)
	killSettled := killChunks * db.ImportChunk
	t.Logf("seed %d: kill -9 during confirm once %d of %d rows have their link (%d chunks of %d) and others are pending (replay with PAYLINKS_CRASH_SEED=%d)",
		seed, killSettled, rows, killChunks, chunks, seed)

	smtp, err := smtptest.Start(smtptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smtp.Close)
	rig := newCrashImportRig(t,
		"PAYLINKS_SMTP_URL=smtp://127.0.0.1:"+strconv.Itoa(smtp.Port())+"?tls=none",
		"PAYLINKS_MAIL_FROM=billing@crash.example",
		"PAYLINKS_MAIL_RATE=10000",     // the import's emails are not held back by the per-user budget
		"PAYLINKS_IMPORT_IN_FLIGHT=16", // 2,500 links minted after the restart in about half the time of the default 4
	)
	serve := startServeProc(t, rig.bin, rig.serveEnv, "serve (first run)")
	b := newCrashBrowser(t)
	b.login(t, serve.base)

	// The file: one customer per row, each with its own email address.
	var csv strings.Builder
	csv.WriteString("userId,userEmail,userCountryCode,currency,amount,websiteReference,email\n")
	emailed := map[string]bool{} // customer id → the row asked for an email
	for i := range rows {
		cust := fmt.Sprintf("CONF-C-%04d", i)
		emailed[cust] = i%confirmCrashEmailEvery == 0
		email := "no"
		if emailed[cust] {
			email = "yes"
		}
		fmt.Fprintf(&csv, "%s,%s,DE,EUR,%d.%02d,CONF-INV-%04d,%s\n", cust, confirmCrashAddr(cust), 1+i%9, i%100, i, email)
	}
	wantEmails := (rows + confirmCrashEmailEvery - 1) / confirmCrashEmailEvery
	action, csrf := b.uploadCheckedImport(t, serve.base, "confirm-crash.csv", csv.String(), rows)
	t.Logf("uploaded and checked %d rows, %v since start", rows, time.Since(began).Round(time.Millisecond))

	// Confirm, and watch the file from a read-only connection while the
	// request runs.
	type answer struct {
		status   int
		location string
		err      error
	}
	confirmed := make(chan answer, 1)
	confirmStart := time.Now()
	go func() {
		st, loc, err := b.post(serve.base+action, url.Values{"_csrf": {csrf}})
		confirmed <- answer{st, loc, err}
	}()
	r := openReader(t, rig.dbPath)
	defer r.Close()
	deadline := time.Now().Add(60 * time.Second)
	var settled, pending, polls int
	var planned time.Duration // from Confirm to the rows committed, all pending
	for {
		polls++
		if err := r.QueryRow("SELECT count(*), COALESCE(sum(pending IS NOT NULL), 0) FROM import_rows").Scan(&settled, &pending); err != nil {
			t.Fatal(err)
		}
		settled -= pending
		if planned == 0 && pending > 0 {
			planned = time.Since(confirmStart)
		}
		if settled >= killSettled && pending > 0 {
			serve.kill()
			break
		}
		if settled == rows {
			serve.kill()
			t.Fatalf("the confirmation made every row's link before the kill point (%d rows settled, %d polls, %v after Confirm): "+
				"the window between its chunks was missed; raise confirmCrashRows so that confirm spans more chunks",
				settled, polls, time.Since(confirmStart).Round(time.Millisecond))
		}
		select {
		case a := <-confirmed:
			serve.kill()
			t.Fatalf("Confirm was answered (%d %q, %v) before the kill point, with %d rows settled and %d pending on the file",
				a.status, a.location, a.err, settled, pending)
		default:
		}
		if time.Now().After(deadline) {
			serve.kill()
			t.Fatalf("60 s after Confirm, %d rows settled and %d pending; want %d settled with some pending\n%s",
				settled, pending, killSettled, serve.tail())
		}
		time.Sleep(200 * time.Microsecond)
	}
	killedAfter := time.Since(confirmStart)
	a := <-confirmed
	if !strings.Contains(serve.exitErr.Error(), "killed") {
		t.Errorf("serve ended with %v, want killed by SIGKILL", serve.exitErr)
	}

	// What the kill left on the file: the confirmation interrupted between
	// its chunks, and each row's idempotency key, chosen at confirmation
	// (pending rows hold theirs in the pending link), to hold the restart to.
	var integrity string
	if err := r.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("after the kill: integrity_check %q, %v", integrity, err)
	}
	var batchID int64
	var linksAtKill, sentAtKill int
	if err := r.QueryRow("SELECT id FROM import_batches").Scan(&batchID); err != nil {
		t.Fatalf("after the kill: the batch: %v", err)
	}
	if err := r.QueryRow("SELECT count(*), COALESCE(sum(pending IS NOT NULL), 0) FROM import_rows").Scan(&settled, &pending); err != nil {
		t.Fatal(err)
	}
	settled -= pending
	_ = r.QueryRow("SELECT count(*), COALESCE(sum(attempts > 0), 0) FROM links").Scan(&linksAtKill, &sentAtKill)
	t.Logf("rows committed %v after Confirm; killed %v after Confirm (%d polls; Confirm's answer: %d %v): "+
		"%d rows with their link, %d pending; %d links, %d of them sent to StableMint (%d sessions there); %v since start",
		planned.Round(time.Millisecond), killedAfter.Round(time.Millisecond), polls, a.status, a.err, settled, pending, linksAtKill, sentAtKill, len(sandboxSessions(t, rig.sbURL)), time.Since(began).Round(time.Millisecond))
	if pending == 0 || settled == 0 {
		t.Fatalf("the kill did not land during the confirmation: %d rows settled, %d pending; the test proves nothing this run", settled, pending)
	}
	if a.err == nil {
		t.Errorf("Confirm was answered %d %q although the kill left %d rows pending", a.status, a.location, pending)
	}
	keyAtKill := map[int]string{}
	q, err := r.Query(`SELECT r.line, COALESCE(l.idempotency_key, json_extract(r.pending, '$.IdempotencyKey'), '')
		FROM import_rows r LEFT JOIN links l ON l.id = r.link_id`)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for q.Next() {
		var line int
		var key string
		if err := q.Scan(&line, &key); err != nil {
			t.Fatal(err)
		}
		keyAtKill[line] = key
		if key != "" {
			distinct[key] = true
		}
	}
	q.Close()
	if len(keyAtKill) != rows || len(distinct) != rows {
		t.Errorf("after the kill: %d rows, %d distinct idempotency keys; want %d each", len(keyAtKill), len(distinct), rows)
	}
	checkFiguresCmd(t, rig.bin, rig.dbPath, "as the kill left the file")

	// The restart. The user never got Confirm's answer and presses it
	// again: it finds the batch the first press made.
	firstServe := serve
	serve = startServeProc(t, rig.bin, rig.serveEnv, "serve (after the kill)")
	batchPath := fmt.Sprintf("/links/import/batches/%d", batchID)
	if st, loc, err := b.post(serve.base+action, url.Values{"_csrf": {csrf}}); err != nil || st != http.StatusSeeOther || loc != batchPath {
		t.Errorf("Confirm pressed again after the restart: %d %q %v; want 303 to %s", st, loc, err, batchPath)
	}

	// The import finishes by itself: its page says so, every row's link
	// made and every email asked for sent.
	var page importPageCounts
	var minted time.Duration // from the restart to every row's link made
	restarted := time.Now()
	deadline = time.Now().Add(120 * time.Second)
	for {
		page = readImportPage(t, b, serve.base+batchPath)
		if minted == 0 && page.state == "Finished." {
			minted = time.Since(restarted)
		}
		if page.state == "Finished." && page.emailed == wantEmails {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("120 s after the restart the import's page says %+v; want Finished. with %d emailed\n%s", page, wantEmails, serve.tail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := serve.stop(); err != nil {
		t.Errorf("stopping serve: %v\n%s", err, serve.tail())
	}
	t.Logf("recovered: every row's link made %v after the restart, every email sent %v after it; the import's page says %+v; %v since start",
		minted.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond), page, time.Since(began).Round(time.Millisecond))
	if want := (importPageCounts{state: "Finished.", rows: rows, made: rows, emailed: wantEmails}); page != want {
		t.Errorf("the import's page: %+v, want %+v", page, want)
	}

	// Every row has its own link, with the key chosen at confirmation, open.
	type rowLink struct {
		line                                    int
		linkID                                  int64
		skipped, key, status, ref, cust, msgIDs string
		pending                                 bool
	}
	q, err = r.Query(`SELECT r.line, COALESCE(r.link_id, 0), r.skipped, r.pending IS NOT NULL, COALESCE(l.idempotency_key, ''),
		COALESCE(l.status, ''), COALESCE(l.sm_reference, ''), COALESCE(l.customer_id, ''),
		COALESCE((SELECT group_concat(o.message_id, ' ') FROM outbox o WHERE o.link_id = l.id), '')
		FROM import_rows r LEFT JOIN links l ON l.id = r.link_id WHERE r.batch_id = ? ORDER BY r.line`, batchID)
	if err != nil {
		t.Fatal(err)
	}
	var got []rowLink
	for q.Next() {
		var x rowLink
		if err := q.Scan(&x.line, &x.linkID, &x.skipped, &x.pending, &x.key, &x.status, &x.ref, &x.cust, &x.msgIDs); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	q.Close()
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	rowErrs := &limitedErrors{t: t, what: "after recovery: import row", limit: 10}
	byLink := map[int64]int{}
	msgIDOf := map[string]string{} // customer → the Message-ID of their link's email
	for _, x := range got {
		wantCust := fmt.Sprintf("CONF-C-%04d", x.line-2)
		switch {
		case x.pending || x.linkID == 0:
			rowErrs.add("row %d: no link (pending %v, skipped %q)", x.line, x.pending, x.skipped)
			continue
		case byLink[x.linkID] > 0:
			rowErrs.add("row %d: link #%d is also row %d's", x.line, x.linkID, byLink[x.linkID])
		case x.cust != wantCust:
			rowErrs.add("row %d: link #%d is for customer %q, want %q", x.line, x.linkID, x.cust, wantCust)
		case x.key != keyAtKill[x.line]:
			rowErrs.add("row %d: link #%d has idempotency key %q, the row was given %q at confirmation", x.line, x.linkID, x.key, keyAtKill[x.line])
		case x.status != "open" || x.ref == "":
			rowErrs.add("row %d: link #%d is %q with session %q, want open with a session", x.line, x.linkID, x.status, x.ref)
		case x.skipped != "":
			rowErrs.add("row %d: link #%d but skipped %q", x.line, x.linkID, x.skipped)
		}
		byLink[x.linkID] = x.line
		ids := strings.Fields(x.msgIDs)
		switch {
		case emailed[x.cust] && len(ids) != 1:
			rowErrs.add("row %d asked for an email: link #%d has %d outbox rows, want 1", x.line, x.linkID, len(ids))
		case !emailed[x.cust] && len(ids) != 0:
			rowErrs.add("row %d said no email: link #%d has %d outbox rows, want none", x.line, x.linkID, len(ids))
		case len(ids) == 1:
			msgIDOf[x.cust] = ids[0]
		}
	}
	rowErrs.done()
	if len(got) != rows {
		t.Errorf("after recovery: the batch has %d rows, want %d", len(got), rows)
	}
	var nLinks, nCustomers int
	if err := r.QueryRow("SELECT count(*), count(DISTINCT customer_id) FROM links").Scan(&nLinks, &nCustomers); err != nil {
		t.Fatal(err)
	}
	if nLinks != rows || nCustomers != rows {
		t.Errorf("after recovery: %d links for %d customers, want %d each (one link per customer)", nLinks, nCustomers, rows)
	}

	// StableMint: one session per link's key, none for a key no link holds.
	linkKeys := map[string]bool{}
	for _, x := range got {
		linkKeys[x.key] = true
	}
	sessions := sandboxSessions(t, rig.sbURL)
	perKey := map[string]int{}
	for _, s := range sessions {
		perKey[s.IdempotencyKey]++
	}
	sbErrs := &limitedErrors{t: t, what: "after recovery: StableMint", limit: 10}
	for k, n := range perKey {
		if n != 1 {
			sbErrs.add("key %s has %d sessions, want 1", k, n)
		}
		if !linkKeys[k] {
			sbErrs.add("a session has key %s, which no link holds", k)
		}
	}
	for k := range linkKeys {
		if perKey[k] == 0 {
			sbErrs.add("link key %s has no session", k)
		}
	}
	if len(sessions) != rows {
		sbErrs.add("%d sessions for %d rows", len(sessions), rows)
	}
	sbErrs.done()

	// The customers' mailboxes: one email each for the rows that asked,
	// none for the others. The mailer sends an email again, with the same
	// Message-ID, only when a process dies mid-send (docs/operations.md);
	// a customer's client shows that as one email.
	received := map[string][]string{} // address → Message-IDs, one per delivery
	for _, m := range smtp.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Errorf("a message the SMTP server received cannot be read: %v", err)
			continue
		}
		id := strings.Trim(msg.Header.Get("Message-ID"), "<>")
		for _, to := range m.To {
			received[strings.ToLower(to)] = append(received[strings.ToLower(to)], id)
		}
	}
	mailErrs := &limitedErrors{t: t, what: "after recovery: customer emails", limit: 10}
	resent := 0
	for cust, yes := range emailed {
		ids := received[confirmCrashAddr(cust)]
		distinctIDs := map[string]bool{}
		for _, id := range ids {
			distinctIDs[id] = true
		}
		switch {
		case !yes && len(ids) > 0:
			mailErrs.add("%s's row said no email, they got %d", cust, len(ids))
		case yes && len(distinctIDs) != 1:
			mailErrs.add("%s got %d distinct emails (%d deliveries), want exactly 1", cust, len(distinctIDs), len(ids))
		case yes && !distinctIDs[msgIDOf[cust]]:
			mailErrs.add("%s got the email %v, their link's email is %q", cust, ids, msgIDOf[cust])
		case len(ids) > 1:
			resent++
		}
		delete(received, confirmCrashAddr(cust))
	}
	for addr, ids := range received {
		mailErrs.add("%d emails went to %s, no customer of the file", len(ids), addr)
	}
	mailErrs.done()
	if resent > 0 {
		t.Logf("%d customers got their email twice with the same Message-ID (the kill hit a send)", resent)
	}

	checkFiguresCmd(t, rig.bin, rig.dbPath, "after recovery")
	if t.Failed() {
		t.Logf("process output:\n== %s\n%s\n== %s\n%s\n== sandbox\n%s", firstServe.name, firstServe.tail(), serve.name, serve.tail(), rig.sandbox.tail())
	}
	t.Logf("done in %v", time.Since(began).Round(time.Millisecond))
}

func confirmCrashAddr(cust string) string { return strings.ToLower(cust) + "@example.com" }

// importPageCounts is what an import's page says: its state line and
// its counts.
type importPageCounts struct {
	state                                                    string
	rows, waiting, made, failed, cancelled, skipped, emailed int
}

func readImportPage(t *testing.T, b *crashBrowser, pageURL string) importPageCounts {
	t.Helper()
	doc, status, err := b.getDoc(pageURL)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %d %v", pageURL, status, err)
	}
	n := func(id string) int {
		v, err := strconv.Atoi(strings.TrimSpace(doc.Find(`[data-testid="` + id + `"]`).First().Text()))
		if err != nil {
			t.Fatalf("the import's page: %s: %v", id, err)
		}
		return v
	}
	return importPageCounts{state: strings.TrimSpace(doc.Find(`[data-testid="import-state"]`).First().Text()),
		rows: n("count-rows"), waiting: n("count-queued"), made: n("count-minted"), failed: n("count-failed"),
		cancelled: n("count-cancelled"), skipped: n("count-skipped"), emailed: n("count-emailed")}
}
