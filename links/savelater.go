package links

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/paylinks/paylinks/db"
)

// UnsavedError is a mint whose answer from StableMint paylinks could not
// save because the disk refused the write (db.ErrStorage). The checkout
// session exists at StableMint; the link stays creating in the database
// while the minter saves the answer again every few seconds, until the
// disk takes it (Minter.Unsaved says so meanwhile). If the process stops
// first, the recovery job asks StableMint again with the same idempotency
// key, which answers with the same session.
type UnsavedError struct {
	LinkID    int64
	Reference string // StableMint's, "" when StableMint refused the link
	Reason    string // the storage fault, in staff's words
	Err       error
}

func (e *UnsavedError) Error() string {
	return "StableMint answered for link " + strconv.FormatInt(e.LinkID, 10) + ", but paylinks could not save the answer: " + e.Reason
}

func (e *UnsavedError) Unwrap() error { return e.Err }

// Message is the sentence staff see.
func (e *UnsavedError) Message() string {
	if e.Reference == "" {
		return "StableMint answered, but paylinks could not save its answer: " + e.Reason +
			". It is saved automatically as soon as the database accepts writes; this page then shows it."
	}
	return "StableMint created the checkout (" + e.Reference + "), but paylinks could not save it: " + e.Reason +
		". It is saved automatically as soon as the database accepts writes; this page then shows it."
}

// saveRetry is how often an unsaved answer is written again.
var saveRetry = 2 * time.Second

// pendingSaves are the answers the minter holds in memory until the disk
// takes them, by link.
type pendingSaves struct {
	mu    sync.Mutex
	links map[int64]*UnsavedError
	stop  chan struct{}
	wg    sync.WaitGroup
}

// saveLater keeps retrying save, in the background, while it fails for a
// storage reason; it returns the UnsavedError callers report. Another
// error, or success, ends it (the link may have been completed by the
// recovery job meanwhile: CompleteLinkCreation then changes nothing).
func (m *Minter) saveLater(linkID int64, reference string, err error, save func(context.Context) error) error {
	var se *db.StorageError
	if !errors.As(err, &se) {
		return err
	}
	u := &UnsavedError{LinkID: linkID, Reference: reference, Reason: se.Reason, Err: err}
	p := &m.pending
	p.mu.Lock()
	if p.links == nil {
		p.links, p.stop = map[int64]*UnsavedError{}, make(chan struct{})
	}
	_, already := p.links[linkID]
	p.links[linkID] = u
	stop := p.stop
	if !already {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if already {
		return u
	}
	m.log.Error("StableMint's answer could not be saved; retrying in memory", "link_id", linkID, "reference", reference, "reason", se.Reason)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(saveRetry)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			err := save(context.Background())
			if errors.As(err, &se) {
				continue
			}
			p.mu.Lock()
			delete(p.links, linkID)
			p.mu.Unlock()
			if err != nil {
				m.log.Error("saving StableMint's answer", "link_id", linkID, "err", err)
			} else {
				m.log.Info("StableMint's answer saved after the database accepted writes again", "link_id", linkID, "reference", reference)
			}
			return
		}
	}()
	return u
}

// Unsaved reports the answer the minter holds in memory for link id
// because the disk refused it, if any.
func (m *Minter) Unsaved(id int64) (*UnsavedError, bool) {
	m.pending.mu.Lock()
	defer m.pending.mu.Unlock()
	u, ok := m.pending.links[id]
	return u, ok
}

// Close stops the in-memory retries (the recovery job of the next start
// finishes those links) and waits for them.
func (m *Minter) Close() {
	p := &m.pending
	p.mu.Lock()
	if p.stop != nil {
		select {
		case <-p.stop:
		default:
			close(p.stop)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}
