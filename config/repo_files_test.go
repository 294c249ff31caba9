package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoWithOutside makes dir/repo and dir/outside, a file next to the repository
// that no read may reach, and returns the repository's path and outside's.
func repoWithOutside(t *testing.T) (repo, outside string) {
	t.Helper()
	dir := t.TempDir()
	repo = filepath.Join(dir, "repo")
	outside = filepath.Join(dir, "outside")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return repo, outside
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustFIFO(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
}

// prompt runs f and fails the test if it does not return within a few seconds:
// opening a named pipe for reading blocks until a writer comes.
func prompt[T any](t *testing.T, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("did not return within 5s (blocked opening a named pipe?)")
		panic("unreachable")
	}
}

func TestCheckoutReadFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup builds the repository; outside is a file beside it.
		setup   func(t *testing.T, repo, outside string)
		file    string
		limit   int64
		want    string
		wantErr string // exact error text; "" for success
		wantIs  error
	}{
		{
			name:  "regular file",
			setup: func(t *testing.T, repo, _ string) { writeFile(t, repo, "atoll.yaml", "version: 3\n") },
			file:  "atoll.yaml", want: "version: 3\n",
		},
		{
			name: "symlink to a file inside the repository",
			setup: func(t *testing.T, repo, _ string) {
				writeFile(t, repo, "config/atoll.yaml", "version: 3\n")
				mustSymlink(t, "config/atoll.yaml", filepath.Join(repo, "atoll.yaml"))
			},
			file: "atoll.yaml", want: "version: 3\n",
		},
		{
			name: "path through a symlinked directory inside the repository",
			setup: func(t *testing.T, repo, _ string) {
				writeFile(t, repo, "shared/versions.tf", "x")
				mustSymlink(t, "../shared", filepath.Join(repo, "envs/common"))
			},
			file: "envs/common/versions.tf", want: "x",
		},
		{
			name:    "symlink to a file outside the repository",
			setup:   func(t *testing.T, repo, _ string) { mustSymlink(t, "../outside", filepath.Join(repo, "atlantis.yaml")) },
			file:    "atlantis.yaml",
			wantErr: "atlantis.yaml: is a symbolic link that leaves the repository", wantIs: ErrOutsideRepo,
		},
		{
			name: "absolute symlink to a file outside the repository",
			setup: func(t *testing.T, repo, outside string) {
				mustSymlink(t, outside, filepath.Join(repo, "atlantis.yaml"))
			},
			file:    "atlantis.yaml",
			wantErr: "atlantis.yaml: is a symbolic link that leaves the repository", wantIs: ErrOutsideRepo,
		},
		{
			name:    "symlink to /dev/zero",
			setup:   func(t *testing.T, repo, _ string) { mustSymlink(t, "/dev/zero", filepath.Join(repo, "atlantis.yaml")) },
			file:    "atlantis.yaml",
			wantErr: "atlantis.yaml: is a symbolic link that leaves the repository", wantIs: ErrOutsideRepo,
		},
		{
			name:    "symlink to /etc/shadow",
			setup:   func(t *testing.T, repo, _ string) { mustSymlink(t, "/etc/shadow", filepath.Join(repo, "main.tf")) },
			file:    "main.tf",
			wantErr: "main.tf: is a symbolic link that leaves the repository", wantIs: ErrOutsideRepo,
		},
		{
			name:    "path through a symlinked directory leaving the repository",
			setup:   func(t *testing.T, repo, _ string) { mustSymlink(t, "/etc", filepath.Join(repo, "etc")) },
			file:    "etc/passwd",
			wantErr: "etc/passwd: is reached through a symbolic link that leaves the repository", wantIs: ErrOutsideRepo,
		},
		{
			name:    "named pipe",
			setup:   func(t *testing.T, repo, _ string) { mustFIFO(t, filepath.Join(repo, "atlantis.yaml")) },
			file:    "atlantis.yaml",
			wantErr: "atlantis.yaml: is not a regular file: it is a named pipe (FIFO)", wantIs: ErrNotRegularFile,
		},
		{
			name: "symlink to a named pipe inside the repository",
			setup: func(t *testing.T, repo, _ string) {
				mustFIFO(t, filepath.Join(repo, "pipe"))
				mustSymlink(t, "pipe", filepath.Join(repo, "atoll.yaml"))
			},
			file:    "atoll.yaml",
			wantErr: "atoll.yaml: is not a regular file: it is a named pipe (FIFO)", wantIs: ErrNotRegularFile,
		},
		{
			name:    "directory",
			setup:   func(t *testing.T, repo, _ string) { writeFile(t, repo, "atoll.yaml/x", "") },
			file:    "atoll.yaml",
			wantErr: "atoll.yaml: is not a regular file: it is a directory", wantIs: ErrNotRegularFile,
		},
		{
			name:  "larger than the limit",
			setup: func(t *testing.T, repo, _ string) { writeFile(t, repo, "main.tf", "12345678901") },
			file:  "main.tf", limit: 10,
			wantErr: "main.tf: is 11 bytes, larger than the 10 bytes limit", wantIs: ErrFileTooLarge,
		},
		{
			name: "larger than 1 MiB",
			setup: func(t *testing.T, repo, _ string) {
				writeFile(t, repo, "atoll.yaml", strings.Repeat("#", MaxRepoConfigSize+1))
			},
			file: "atoll.yaml", limit: MaxRepoConfigSize,
			wantErr: "atoll.yaml: is 1048577 bytes, larger than the 1 MiB limit", wantIs: ErrFileTooLarge,
		},
		{
			name:  "exactly the limit",
			setup: func(t *testing.T, repo, _ string) { writeFile(t, repo, "main.tf", "1234567890") },
			file:  "main.tf", limit: 10, want: "1234567890",
		},
		{
			name:    "missing",
			setup:   func(t *testing.T, repo, _ string) {},
			file:    "atoll.yaml",
			wantErr: "atoll.yaml: does not exist", wantIs: fs.ErrNotExist,
		},
		{
			name:    "dangling symlink inside the repository",
			setup:   func(t *testing.T, repo, _ string) { mustSymlink(t, "nowhere.yaml", filepath.Join(repo, "atoll.yaml")) },
			file:    "atoll.yaml",
			wantErr: "atoll.yaml: does not exist", wantIs: fs.ErrNotExist,
		},
		{
			name:    "symlink loop",
			setup:   func(t *testing.T, repo, _ string) { mustSymlink(t, "atoll.yaml", filepath.Join(repo, "atoll.yaml")) },
			file:    "atoll.yaml",
			wantErr: "atoll.yaml: cannot be read: too many levels of symbolic links",
		},
		{
			name:    ".. in the path",
			setup:   func(t *testing.T, repo, _ string) {},
			file:    "../outside",
			wantErr: "../outside: is not a path inside the repository", wantIs: ErrOutsideRepo,
		},
		{
			name:    ".. inside the path",
			setup:   func(t *testing.T, repo, _ string) { writeFile(t, repo, "a/x", "") },
			file:    "a/../../outside",
			wantErr: "a/../../outside: is not a path inside the repository", wantIs: ErrOutsideRepo,
		},
		{
			name:    "absolute path",
			setup:   func(t *testing.T, repo, _ string) {},
			file:    "/etc/passwd",
			wantErr: "/etc/passwd: is not a path inside the repository", wantIs: ErrOutsideRepo,
		},
		{
			name:    "NUL byte",
			setup:   func(t *testing.T, repo, _ string) {},
			file:    "atoll.yaml\x00.txt",
			wantErr: "atoll.yaml\x00.txt: is not a path inside the repository", wantIs: ErrOutsideRepo,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo, outside := repoWithOutside(t)
			tt.setup(t, repo, outside)
			limit := tt.limit
			if limit == 0 {
				limit = MaxRepoConfigSize
			}
			c := openCheckout(repo)
			defer c.close()
			type result struct {
				data []byte
				err  error
			}
			r := prompt(t, func() result {
				data, err := c.readFile(tt.file, limit)
				return result{data, err}
			})
			if tt.wantErr == "" {
				if r.err != nil {
					t.Fatalf("readFile: %v", r.err)
				}
				if string(r.data) != tt.want {
					t.Fatalf("readFile = %q, want %q", r.data, tt.want)
				}
				return
			}
			if r.err == nil {
				t.Fatalf("readFile = %q, want error %q", r.data, tt.wantErr)
			}
			if r.err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", r.err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(r.err, tt.wantIs) {
				t.Errorf("error %v is not %v", r.err, tt.wantIs)
			}
			if strings.Contains(r.err.Error(), filepath.Dir(repo)) {
				t.Errorf("error %q shows the server's path", r.err)
			}
		})
	}
}

// endless is a reader that never ends, like /dev/zero or a file that keeps growing.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	e.n += int64(len(p))
	return len(p), nil
}

// TestReadLimitedCapsALyingFile checks that the read itself stops one byte past
// the limit, so a file whose size grew after the check, or lies, is still capped.
func TestReadLimitedCapsALyingFile(t *testing.T) {
	t.Parallel()
	r := &endless{}
	_, err := readLimited("atoll.yaml", r, MaxRepoConfigSize)
	if !errors.Is(err, ErrFileTooLarge) || err.Error() != "atoll.yaml: is larger than the 1 MiB limit" {
		t.Fatalf("error = %v, want the 1 MiB limit", err)
	}
	if r.n > 2*MaxRepoConfigSize {
		t.Errorf("read %d bytes of an endless file, want about %d", r.n, MaxRepoConfigSize+1)
	}
}

// TestIsPathEscapeMatchesOS pins the os.Root error text that isPathEscape matches.
func TestIsPathEscapeMatchesOS(t *testing.T) {
	t.Parallel()
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	_, err = root.Stat("../x")
	if !isPathEscape(err) {
		t.Fatalf("os.Root refused ../x with %v, which isPathEscape does not recognise", err)
	}
}

func TestCheckoutMissingRoot(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "gone")
	c := openCheckout(missing)
	defer c.close()
	_, err := c.readFile("atoll.yaml", 10)
	if !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), missing) {
		t.Errorf("readFile in a missing working copy: %v, want a not-exist error without the path", err)
	}
	if c.isDir(".") {
		t.Error("isDir(.) of a missing working copy = true")
	}
}

func writeFile(t *testing.T, root, name, body string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
