//go:build !unix

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// staleLock is how old a lock file may get before it is taken to belong to a
// crashed process; every cloud operation finishes in well under a second.
const staleLock = 30 * time.Second

// lockFile takes an exclusive lock by creating path with O_EXCL, polling
// until it can, and returns the function that releases it (removes the file).
// Used where flock is not available.
func lockFile(path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock cloud %q: %w", path, err)
		}
		if fi, statErr := os.Stat(path); statErr == nil && time.Since(fi.ModTime()) > staleLock {
			_ = os.Remove(path)
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}
