//go:build unix

package filelock_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/paylinks/paylinks/internal/filelock"
)

// TestOneHolderAtATime: while one process holds the lock, another process
// is refused without waiting, and once the holder releases it (or ends)
// the other takes it.
func TestOneHolderAtATime(t *testing.T) {
	if os.Getenv("FILELOCK_CHILD") != "" {
		_, ok, err := filelock.TryLock(os.Getenv("FILELOCK_CHILD"))
		if err != nil {
			os.Exit(3)
		}
		if ok {
			os.Exit(0)
		}
		os.Exit(1)
	}
	path := filepath.Join(t.TempDir(), "x.lock")
	other := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOneHolderAtATime$")
		cmd.Env = append(os.Environ(), "FILELOCK_CHILD="+path)
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	release, ok, err := filelock.TryLock(path)
	if err != nil || !ok {
		t.Fatalf("first lock: ok %v, %v", ok, err)
	}
	if code := other(); code != 1 {
		t.Fatalf("another process while held: exit %d, want 1 (refused)", code)
	}
	release()
	if code := other(); code != 0 {
		t.Fatalf("another process after release: exit %d, want 0 (taken)", code)
	}
}
