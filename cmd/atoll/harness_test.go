package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/testdrive/sandbox"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// The end-to-end tests run the real atoll binary, built once per test run,
// against the fake GitHub in vcs/vcstest and a real terraform.

var (
	buildOnce sync.Once
	atollBin  string
	buildErr  error
)

func atollBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "atoll-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		atollBin = filepath.Join(dir, "atoll")
		args := []string{"build", "-o", atollBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return atollBin
}

const (
	e2eToken  = "e2e-token-5f0c"
	e2eSecret = "e2e-webhook-secret"
)

// teamMembers are the users the e2e tests act as, with write access to every
// repository of the fake GitHub (an organisation's base permission); anyone
// else can only read.
var teamMembers = map[string]string{"alice": "write", "bob": "write", "carol": "write", "dave": "write", "security-lead": "write"}

// fakeGitHub starts vcs/vcstest with a token and a webhook secret.
func fakeGitHub(t testing.TB) *vcstest.Server {
	t.Helper()
	gh, err := vcstest.New(vcstest.Options{Dir: t.TempDir(), Token: e2eToken, WebhookSecret: e2eSecret, BasePermissions: teamMembers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	return gh
}

// atollProc is a running `atoll server`.
type atollProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	log  *syncBuffer
	done chan struct{}
}

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startAtoll starts the binary with the fake's URLs and the given data dir, plus
// extra flags, and waits for /healthz.
func startAtoll(t testing.TB, gh *vcstest.Server, dataDir string, extra ...string) *atollProc {
	t.Helper()
	return startAtollEnv(t, gh, dataDir, nil, extra...)
}

// startAtollEnv is startAtoll with env added to the server's environment
// (later entries win, as in os/exec).
func startAtollEnv(t testing.TB, gh *vcstest.Server, dataDir string, env []string, extra ...string) *atollProc {
	t.Helper()
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	args := append([]string{"server",
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--atoll-url", url, "--data-dir", dataDir,
		"--gh-user", gh.BotUser(), "--gh-api-url", gh.APIURL(),
		"--repo-allowlist", "github.com/acme/*", "--tf-binary", testenv.Terraform(t), "--log-level", "debug",
	}, extra...)
	cmd := exec.Command(atollBinary(t), args...)
	// Secrets come through the environment, as in production.
	cmd.Env = append(append(testenv.TerraformEnv(t), "ATOLL_GH_TOKEN="+e2eToken, "ATOLL_GH_WEBHOOK_SECRET="+e2eSecret), env...)
	p := &atollProc{t: t, cmd: cmd, URL: url, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if strings.Contains(p.log.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector found a data race in atoll server")
		}
		if t.Failed() {
			t.Logf("atoll server log (%s):\n%s", url, p.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.done:
			t.Fatalf("atoll exited at start:\n%s", p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("atoll did not become healthy:\n%s", p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	gh.SetWebhookURL(url + "/events")
	return p
}

// Stop sends SIGTERM and waits for a clean exit (or kills after 60s).
func (p *atollProc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill ends the process at once, as a crash would.
func (p *atollProc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func waitCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitComment waits for a comment on num containing every one of subs.
func waitComment(t testing.TB, gh *vcstest.Server, repo vcs.Repo, num int, subs ...string) vcstest.RecordedComment {
	t.Helper()
	c, err := gh.WaitComment(waitCtx(t), repo, num, func(c vcstest.RecordedComment) bool {
		for _, s := range subs {
			if !strings.Contains(c.Body, s) {
				return false
			}
		}
		return true
	})
	if err != nil {
		var all []string
		for _, c := range gh.Comments(repo, num) {
			all = append(all, c.Body)
		}
		t.Fatalf("no comment on #%d containing %q: %v\ncomments:\n%s", num, subs, err, strings.Join(all, "\n-----\n"))
	}
	return c
}

func waitStatus(t testing.TB, gh *vcstest.Server, repo vcs.Repo, sha, name string, state vcs.StatusState) vcs.Status {
	t.Helper()
	st, err := gh.WaitStatus(waitCtx(t), repo, sha, name, state)
	if err != nil {
		t.Fatalf("status %s %s on %s: %v; statuses: %+v", name, state, sha, err, gh.Statuses(repo, sha))
	}
	return st
}

// countComments counts comments on num containing sub.
func countComments(gh *vcstest.Server, repo vcs.Repo, num int, sub string) int {
	n := 0
	for _, c := range gh.Comments(repo, num) {
		if strings.Contains(c.Body, sub) {
			n++
		}
	}
	return n
}

func httpDo(t *testing.T, method, url string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logLines returns the log's lines containing sub, for assertions on logging.
func logLines(log, sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// joinBodies returns every comment body on num, joined.
func joinBodies(gh *vcstest.Server, repo vcs.Repo, num int) string {
	var b strings.Builder
	for _, c := range gh.Comments(repo, num) {
		b.WriteString(c.Body)
		b.WriteString("\n-----\n")
	}
	return b.String()
}

// waitFor polls cond for up to two minutes; the fake GitHub has no event for
// every condition a test waits on.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// assertNoTokenOnDisk checks no file under dir (checkouts, git config, the lock
// database, plans) holds the GitHub token.
func assertNoTokenOnDisk(t *testing.T, dir string) {
	t.Helper()
	assertNoSecretsOnDisk(t, dir, []string{e2eToken})
}

func terraformPath(t *testing.T) string { return testenv.Terraform(t) }

// execCommand runs name with the test terraform environment.
func execCommand(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = testenv.TerraformEnv(t)
	return cmd
}

var (
	providerOnce sync.Once
	providerBin  string
	providerErr  error
)

// sandboxEnv builds the sandbox provider once, installs it in a filesystem
// mirror and returns the environment that makes terraform use it offline.
func sandboxEnv(t testing.TB) []string {
	t.Helper()
	providerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "atoll-e2e-provider-")
		if err != nil {
			providerErr = err
			return
		}
		providerBin = filepath.Join(dir, "terraform-provider-sandbox")
		out, err := exec.Command("go", "build", "-o", providerBin, "../terraform-provider-sandbox").CombinedOutput()
		if err != nil {
			providerErr = fmt.Errorf("go build the sandbox provider: %v\n%s", err, out)
		}
	})
	if providerErr != nil {
		t.Fatal(providerErr)
	}
	mirror := filepath.Join(t.TempDir(), "mirror")
	if err := sandbox.InstallMirror(providerBin, mirror); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(rc, []byte(sandbox.CLIConfig(mirror)), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"TF_CLI_CONFIG_FILE=" + rc}
}

// assertNoSecretsOnDisk checks no file under dir (checkouts, git config, the
// lock database, plans) holds any of secrets.
func assertNoSecretsOnDisk(t *testing.T, dir string, secrets []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains a secret (%.8s...)", p, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeReposYAML writes a server-side repos.yaml and returns the
// --repo-config flag naming it.
func writeReposYAML(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "repos.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return "--repo-config=" + path
}

// redisFlags are the flags that point atoll server at the Redis at addr.
func redisFlags(t testing.TB, addr string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--locking-db-type=redis", "--redis-host=" + host, "--redis-port=" + port}
}
