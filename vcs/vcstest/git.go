package vcstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-github/v60/github"
)

// errConflict is returned by mergeTree when the two commits conflict.
var errConflict = errors.New("merge conflict")

// newGitBackend finds git and wraps its http-backend in a CGI handler serving
// the bare repositories under dir.
func newGitBackend(dir string) (string, http.Handler, error) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return "", nil, fmt.Errorf("find git (install it with `apt-get install -y git`): %w", err)
	}
	out, err := exec.Command(gitBin, "--exec-path").Output()
	if err != nil {
		return "", nil, fmt.Errorf("run git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return "", nil, fmt.Errorf("find git-http-backend: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("resolve repo dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", nil, fmt.Errorf("create repo dir %q: %w", abs, err)
	}
	h := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + abs, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}
	return gitBin, h, nil
}

// serveGit serves the smart HTTP protocol for clone and fetch, and pushes
// that create new branches (see servePush).
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) {
	owner, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	nameGit, _, _ := strings.Cut(rest, "/")
	name, isGit := strings.CutSuffix(nameGit, ".git")
	if !isGit || owner == "" || name == "" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	_, known := s.repos[owner+"/"+name]
	s.mu.Unlock()
	if !known {
		http.Error(w, "Repository not found.", http.StatusNotFound)
		return
	}
	if r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
		s.servePush(w, r)
		return
	}
	s.cgi.ServeHTTP(w, r)
}

// gitDir returns the bare repository path of owner/name.
func (s *Server) gitDir(owner, name string) string {
	return filepath.Join(s.opts.Dir, owner, name+".git")
}

// run runs git with args in dir, with extra environment, and returns its
// trimmed stdout. The host's system and global git config are ignored, so
// a developer's signing or hook settings cannot change what the fake does.
func (s *Server) run(ctx context.Context, dir string, env []string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.gitBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &gitError{args: args, stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return strings.TrimSpace(stdout.String()), nil
}

// gitError is a failed git command with its stderr.
type gitError struct {
	args   []string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.args, " "), e.err, e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }

// exitCode returns git's exit code in err, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// initRepo creates an empty bare repository whose HEAD is main.
func (s *Server) initRepo(ctx context.Context, gitDir string) error {
	if _, err := s.run(ctx, "", nil, nil, "init", "--bare", "--quiet", "--initial-branch=main", gitDir); err != nil {
		return err
	}
	_, err := s.run(ctx, gitDir, nil, nil, "config", "http.receivepack", "false")
	return err
}

// resolve returns the commit SHA rev names in gitDir, or ErrUnknown.
func (s *Server) resolve(ctx context.Context, gitDir, rev string) (string, error) {
	if strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("resolve %q: %w", rev, ErrUnknown)
	}
	out, err := s.run(ctx, gitDir, nil, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", fmt.Errorf("resolve %q: %w", rev, ErrUnknown)
		}
		return "", fmt.Errorf("resolve %q: %w", rev, err)
	}
	return out, nil
}

// resolveBranch returns the tip of branch, or ErrUnknown.
func (s *Server) resolveBranch(ctx context.Context, gitDir, branch string) (string, error) {
	return s.resolve(ctx, gitDir, "refs/heads/"+branch)
}

// updateRef points ref at sha if it still points at old ("" means the ref
// must not exist yet).
func (s *Server) updateRef(ctx context.Context, gitDir, ref, sha, old string) error {
	if _, err := s.run(ctx, gitDir, nil, nil, "update-ref", ref, sha, old); err != nil {
		return fmt.Errorf("update %s: %w", ref, err)
	}
	return nil
}

// committer is the identity of every commit the fake makes.
var committer = []string{
	"GIT_AUTHOR_NAME=Atoll Test", "GIT_AUTHOR_EMAIL=test@atoll.invalid",
	"GIT_COMMITTER_NAME=Atoll Test", "GIT_COMMITTER_EMAIL=test@atoll.invalid",
}

// cleanPath checks that p is a relative, clean path inside the repository.
func cleanPath(p string) (string, error) {
	c := path.Clean(p)
	if p == "" || path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") ||
		c == ".git" || strings.HasPrefix(c, ".git/") {
		return "", fmt.Errorf("file path %q is not a clean relative path", p)
	}
	return c, nil
}

// commitFiles makes a commit in the bare repo gitDir on top of parent ("" for
// a root commit) with files written (or removed, for a "" value) and returns
// its SHA. No ref is moved. It uses a temporary index and work tree, so the
// bare repo never needs a checkout.
// symlinkMarker starts a file's content in Push and CreateRepo when the file
// is a symbolic link; see Symlink.
const symlinkMarker = "\x00vcstest-symlink\x00"

// Symlink is a file content for Push and CreateRepo that commits a symbolic
// link to target (git mode 120000) instead of a regular file, as a pull
// request can: tests use it to point repo files at /dev/zero or out of the
// repository.
func Symlink(target string) string { return symlinkMarker + target }

func (s *Server) commitFiles(ctx context.Context, gitDir, parent string, files map[string]string, message string) (string, error) {
	tmp, err := os.MkdirTemp("", "vcstest-commit-")
	if err != nil {
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "work")
	env := []string{"GIT_DIR=" + gitDir, "GIT_WORK_TREE=" + work, "GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}
	if err := os.Mkdir(work, 0o755); err != nil {
		return "", fmt.Errorf("create temp work tree: %w", err)
	}
	if parent != "" {
		if _, err := s.run(ctx, work, env, nil, "read-tree", parent); err != nil {
			return "", err
		}
	}
	var add, remove []string
	for p, content := range files {
		c, err := cleanPath(p)
		if err != nil {
			return "", err
		}
		if content == "" {
			remove = append(remove, c)
			continue
		}
		full := filepath.Join(work, filepath.FromSlash(c))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", fmt.Errorf("write %s: %w", c, err)
		}
		if target, ok := strings.CutPrefix(content, symlinkMarker); ok {
			if err := os.Symlink(target, full); err != nil {
				return "", fmt.Errorf("link %s: %w", c, err)
			}
		} else if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", c, err)
		}
		add = append(add, c)
	}
	sort.Strings(add)
	sort.Strings(remove)
	if len(add) > 0 {
		if _, err := s.run(ctx, work, env, nil, append([]string{"update-index", "--add", "--"}, add...)...); err != nil {
			return "", err
		}
	}
	if len(remove) > 0 {
		if _, err := s.run(ctx, work, env, nil, append([]string{"update-index", "--force-remove", "--"}, remove...)...); err != nil {
			return "", err
		}
	}
	tree, err := s.run(ctx, work, env, nil, "write-tree")
	if err != nil {
		return "", err
	}
	args := []string{"commit-tree", tree}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	if message == "" {
		message = "Update files"
	}
	return s.run(ctx, work, append(env, committer...), strings.NewReader(message), args...)
}

// mergeTree merges head into base without touching any ref and returns the
// merged tree, or errConflict. It needs git 2.38 or later.
func (s *Server) mergeTree(ctx context.Context, gitDir, base, head string) (string, error) {
	out, err := s.run(ctx, gitDir, nil, nil, "merge-tree", "--write-tree", "--no-messages", base, head)
	if err != nil {
		if exitCode(err) == 1 {
			return "", errConflict
		}
		return "", fmt.Errorf("merge %s into %s: %w", head, base, err)
	}
	tree, _, _ := strings.Cut(out, "\n")
	return tree, nil
}

// mergeCommit makes a merge commit of head into base and returns its SHA.
func (s *Server) mergeCommit(ctx context.Context, gitDir, base, head, message string) (string, error) {
	tree, err := s.mergeTree(ctx, gitDir, base, head)
	if err != nil {
		return "", err
	}
	return s.run(ctx, gitDir, committer, strings.NewReader(message), "commit-tree", tree, "-p", base, "-p", head)
}

// changedFiles lists the files a pull request changes: the diff from the
// merge base of base and head to head, with renames, as GitHub computes it.
func (s *Server) changedFiles(ctx context.Context, gitDir, base, head string) ([]*github.CommitFile, error) {
	rangeArg := base + "..." + head
	raw, err := s.run(ctx, gitDir, nil, nil, "diff", "--raw", "-z", "-M", "--no-abbrev", rangeArg)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", rangeArg, err)
	}
	num, err := s.run(ctx, gitDir, nil, nil, "diff", "--numstat", "-z", "-M", rangeArg)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", rangeArg, err)
	}
	counts := parseNumstat(num)
	var files []*github.CommitFile
	fields := strings.Split(strings.TrimSuffix(raw, "\x00"), "\x00")
	for i := 0; i < len(fields); i++ {
		meta := fields[i]
		if !strings.HasPrefix(meta, ":") {
			continue
		}
		// ":oldmode newmode oldsha newsha STATUS"
		parts := strings.Fields(meta)
		if len(parts) != 5 || i+1 >= len(fields) {
			return nil, fmt.Errorf("parse diff output %q", meta)
		}
		f := &github.CommitFile{SHA: github.String(parts[3])}
		code := parts[4][:1]
		name := fields[i+1]
		i++
		if code == "R" || code == "C" {
			if i+1 >= len(fields) {
				return nil, fmt.Errorf("parse diff output %q", meta)
			}
			f.PreviousFilename = github.String(name)
			name = fields[i+1]
			i++
		}
		f.Filename = github.String(name)
		f.Status = github.String(statusName(code))
		c := counts[name]
		f.Additions, f.Deletions, f.Changes = github.Int(c[0]), github.Int(c[1]), github.Int(c[0]+c[1])
		files = append(files, f)
	}
	return files, nil
}

// statusName maps git's diff status letter to GitHub's file status.
func statusName(code string) string {
	switch code {
	case "A":
		return "added"
	case "D":
		return "removed"
	case "R":
		return "renamed"
	case "C":
		return "copied"
	case "T":
		return "changed"
	default:
		return "modified"
	}
}

// parseNumstat reads `git diff --numstat -z` into added and deleted line
// counts by (new) path. Binary files count zero.
func parseNumstat(out string) map[string][2]int {
	counts := map[string][2]int{}
	fields := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	for i := 0; i < len(fields); i++ {
		parts := strings.SplitN(fields[i], "\t", 3)
		if len(parts) != 3 {
			continue
		}
		add, _ := strconv.Atoi(parts[0])
		del, _ := strconv.Atoi(parts[1])
		name := parts[2]
		if name == "" && i+2 < len(fields) { // rename: "\0old\0new"
			name = fields[i+2]
			i += 2
		}
		counts[name] = [2]int{add, del}
	}
	return counts
}
