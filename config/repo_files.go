package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Size limits for the files Atoll reads from a pull request's working copy. The
// server reads them in its own process, so a file may not make it allocate more
// than this however large the file is or claims to be.
const (
	// MaxRepoConfigSize is the largest repo config file (atoll.yaml,
	// atlantis.yaml or the repo_config_file of repos.yaml) Atoll reads: 1 MiB. Real
	// configs, even for thousands of projects, are a few hundred KiB at most.
	MaxRepoConfigSize = 1 << 20
	// MaxTerraformFileSize is the largest Terraform file (*.tf, *.tf.json) Atoll
	// reads to find module calls and required_version: 4 MiB. A larger file is
	// skipped for that purpose; terraform itself still sees it.
	MaxTerraformFileSize = 4 << 20
)

// Reasons a repository file is refused; a *FileError wraps one of them.
var (
	// ErrOutsideRepo means the path, or a symbolic link on it, leads outside the
	// repository (an absolute symbolic link counts as leaving it).
	ErrOutsideRepo = errors.New("outside the repository")
	// ErrNotRegularFile means the path names a directory, named pipe, device or
	// socket rather than a regular file.
	ErrNotRegularFile = errors.New("not a regular file")
	// ErrFileTooLarge means the file is larger than the limit for its kind.
	ErrFileTooLarge = errors.New("file too large")
)

// FileError is a file of a repository's working copy that Atoll refused or could
// not read. Its text names the file relative to the repository root, never the
// server's path to the working copy, so it is safe to show on a pull request.
type FileError struct {
	// File is the repo-relative, slash-separated name.
	File string
	// Reason says what is wrong, for example "is not a regular file".
	Reason string
	// Err is ErrOutsideRepo, ErrNotRegularFile, ErrFileTooLarge or the underlying
	// cause (fs.ErrNotExist for a missing file).
	Err error
}

// Error returns "file: reason".
func (e *FileError) Error() string { return e.File + ": " + e.Reason }

// Unwrap returns the cause, so errors.Is(err, fs.ErrNotExist) and
// errors.Is(err, ErrFileTooLarge) work.
func (e *FileError) Unwrap() error { return e.Err }

// checkout reads the files of a repository working copy without leaving it. It is
// the only way the config package touches a working copy: every access goes
// through an os.Root, which refuses ".." and symbolic links that lead outside the
// root (including absolute ones), and readFile reads only regular files up to a
// size limit. The working copy belongs to a pull request's author, so nothing in
// it is trusted.
type checkout struct {
	// root is nil when the working copy could not be opened; err says why.
	root *os.Root
	err  error
}

// openCheckout opens the working copy at repoRoot. It does not fail: when the
// directory cannot be opened every read returns that error, so a missing working
// copy behaves like an empty one for callers that tolerate missing files.
func openCheckout(repoRoot string) *checkout {
	root, err := os.OpenRoot(repoRoot)
	if err != nil {
		// Keep the cause (for errors.Is) but not the server's path.
		return &checkout{err: fmt.Errorf("open working copy: %w", pathCause(err))}
	}
	return &checkout{root: root}
}

// close releases the working copy's directory handle.
func (c *checkout) close() {
	if c.root != nil {
		c.root.Close()
	}
}

// readFile returns the contents of the regular file name (repo-relative,
// slash-separated) if it is at most limit bytes. It refuses names that leave the
// repository, symbolic links that lead outside it, and anything that is not a
// regular file, without blocking on a named pipe. Every error is a *FileError,
// except the working copy's own open error; a missing file is one that
// errors.Is(err, fs.ErrNotExist).
func (c *checkout) readFile(name string, limit int64) ([]byte, error) {
	if !validRepoPath(name) || name == "." {
		return nil, &FileError{File: name, Reason: "is not a path inside the repository", Err: ErrOutsideRepo}
	}
	if c.root == nil {
		return nil, c.err
	}
	// Stat first so that a named pipe or device is never opened; the checks are
	// repeated on the open file in case the path changed in between.
	st, err := c.root.Stat(name)
	if err != nil {
		return nil, c.fileErr(name, err)
	}
	if err := checkRegular(name, st, limit); err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a named pipe swapped in after the Stat returns at once
	// instead of waiting for a writer; it does not affect regular files.
	f, err := c.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, c.fileErr(name, err)
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, c.fileErr(name, err)
	}
	if err := checkRegular(name, st, limit); err != nil {
		return nil, err
	}
	data, err := readLimited(name, f, limit)
	if err != nil {
		return nil, c.fileErr(name, err)
	}
	return data, nil
}

// readLimited reads r to the end if it holds at most limit bytes. It reads one
// byte more than allowed, so a file that grew since it was checked, or whose
// size lies (as files in /proc do), is still refused without reading it all.
func readLimited(name string, r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &FileError{File: name, Reason: "is larger than the " + sizeText(limit) + " limit", Err: ErrFileTooLarge}
	}
	return data, nil
}

// readDir returns the entries of directory dir (repo-relative, "." for the root),
// sorted by name. A symbolic link on dir must stay inside the repository.
func (c *checkout) readDir(dir string) ([]fs.DirEntry, error) {
	if !validRepoPath(dir) {
		return nil, &FileError{File: dir, Reason: "is not a path inside the repository", Err: ErrOutsideRepo}
	}
	if c.root == nil {
		return nil, c.err
	}
	entries, err := rootFS{c.root}.ReadDir(dir)
	if err != nil {
		return nil, c.fileErr(dir, err)
	}
	return entries, nil
}

// isDir says whether dir (repo-relative) is a directory inside the repository,
// following symbolic links only while they stay inside it.
func (c *checkout) isDir(dir string) bool {
	if c.root == nil || !validRepoPath(dir) {
		return false
	}
	st, err := c.root.Stat(dir)
	return err == nil && st.IsDir()
}

// walkDir walks the working copy's tree in lexical order, as fs.WalkDir does: it
// never follows symbolic links to directories. Paths are repo-relative and
// slash-separated; errors passed to fn are *FileError values.
func (c *checkout) walkDir(fn fs.WalkDirFunc) error {
	if c.root == nil {
		return c.err
	}
	return fs.WalkDir(rootFS{c.root}, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			err = c.fileErr(p, err)
		}
		return fn(p, e, err)
	})
}

// rootFS is an fs.FS over an os.Root for fs.WalkDir. Unlike os.Root.FS it accepts
// names that are not valid UTF-8, which Linux and Git allow, so a pull request
// cannot stop the walk by adding one.
type rootFS struct{ root *os.Root }

// Open opens name in the root.
func (r rootFS) Open(name string) (fs.File, error) { return r.root.Open(name) }

// ReadDir reads the directory name in the root, sorted by name.
func (r rootFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := r.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// fileErr turns an error from the os.Root into a *FileError that names the file
// relative to the repository and says why, without the server's path.
func (c *checkout) fileErr(name string, err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FileError{File: name, Reason: "does not exist", Err: fs.ErrNotExist}
	case isPathEscape(err):
		reason := "is reached through a symbolic link that leaves the repository"
		if st, lerr := c.root.Lstat(name); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			reason = "is a symbolic link that leaves the repository"
		}
		return &FileError{File: name, Reason: reason, Err: ErrOutsideRepo}
	}
	cause := pathCause(err)
	return &FileError{File: name, Reason: "cannot be read: " + cause.Error(), Err: cause}
}

// checkRegular refuses st unless it is a regular file of at most limit bytes.
func checkRegular(name string, st fs.FileInfo, limit int64) error {
	if !st.Mode().IsRegular() {
		return &FileError{File: name, Reason: "is not a regular file: it is " + fileKind(st.Mode()), Err: ErrNotRegularFile}
	}
	if st.Size() > limit {
		return &FileError{File: name, Reason: fmt.Sprintf("is %d bytes, larger than the %s limit", st.Size(), sizeText(limit)), Err: ErrFileTooLarge}
	}
	return nil
}

// fileKind names the kind of a file that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a plain file"
}

// sizeText renders a limit: "1 MiB", "4 MiB", or a number of bytes.
func sizeText(n int64) string {
	const mib = 1 << 20
	if n >= mib && n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}

// validRepoPath says whether p is a repo-relative, slash-separated path that stays
// inside the repository: "." or names without "", "." or ".." elements (so no
// leading or trailing slash), and no NUL byte. Unlike fs.ValidPath it allows
// names that are not valid UTF-8.
func validRepoPath(p string) bool {
	if p == "." {
		return true
	}
	if strings.ContainsRune(p, 0) {
		return false
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}

// isPathEscape says whether err is os.Root's refusal of a path that leaves the
// root. os does not export that error, so its text is matched; the tests pin it.
func isPathEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

// pathCause returns the cause inside a *fs.PathError (which carries a path, and for
// an open file the absolute one), or err itself.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil {
		return pe.Err
	}
	return err
}
