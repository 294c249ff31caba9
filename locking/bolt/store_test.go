package bolt_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/locking/bolt"
	"github.com/atollhq/atoll/locking/lockingtest"
)

func open(t testing.TB, path string, now func() time.Time) *bolt.Store {
	t.Helper()
	s, err := bolt.New(path, bolt.Options{Now: now})
	if err != nil {
		t.Fatalf("bolt.New(%q): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	lockingtest.Run(t, func(t *testing.T, now func() time.Time) locking.Store {
		return open(t, filepath.Join(t.TempDir(), "locks.db"), now)
	})
}

func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "locks.db")
	lockingtest.RunReopen(t, func(t *testing.T) locking.Store {
		return open(t, path, nil)
	})
}

func TestProcessRace(t *testing.T) {
	lockingtest.RunProcessRace(t, 4,
		func(t *testing.T) string { return filepath.Join(t.TempDir(), "locks.db") },
		func(t *testing.T, path string) locking.Store { return open(t, path, nil) })
}

func TestNewTimeoutWhileOpenElsewhere(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "locks.db")
	s := open(t, path, nil)
	defer s.Close()

	// bbolt's file lock is per open file description, so a second open in
	// this process waits for the first just as another process would.
	begin := time.Now()
	_, err := bolt.New(path, bolt.Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second bolt.New = %v, want a timeout error", err)
	}
	if waited := time.Since(begin); waited < 150*time.Millisecond {
		t.Errorf("second bolt.New gave up after %s, want about the 200ms timeout", waited)
	}
	for _, want := range []string{path, "another process has it open"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNewBadPath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing-dir", "locks.db")
	_, err := bolt.New(path, bolt.Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bolt.New(%q) = %v, want a not-exist error", path, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path", err)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "locks.db"), nil)
	defer s.Close()
	lockingtest.BenchAcquireRelease(b, s)
}

func BenchmarkContention64(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "locks.db"), nil)
	defer s.Close()
	lockingtest.BenchContention(b, s, 64)
}
