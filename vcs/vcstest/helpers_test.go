package vcstest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
)

const testToken = "test-token-0123456789"

// newServer starts a fake GitHub for one test with a token, closed at cleanup.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	testenv.Git(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newClient returns a go-github v60 client pointed at s with token.
func newClient(t *testing.T, s *Server, token string) *github.Client {
	t.Helper()
	c := github.NewClient(nil)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	u, err := url.Parse(s.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// testCtx returns a context that ends with the test or after a minute.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fixture is a repo with a pull request from "feature" into main.
type fixture struct {
	s       *Server
	gh      *github.Client
	repo    vcs.Repo
	num     int
	headSHA string
}

func newFixture(t *testing.T, opts Options) fixture {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	s := newServer(t, opts)
	ctx := testCtx(t)
	repo, err := s.CreateRepo(ctx, "acme", "infra", map[string]string{
		"README.md":         "# infra\n",
		"network/main.tf":   "resource \"terraform_data\" \"net\" {}\n",
		"database/main.tf":  "resource \"terraform_data\" \"db\" {}\n",
		"network/old.tf":    "locals {\n  a = 1\n  b = 2\n  c = 3\n}\n",
		"network/remove.tf": "locals { gone = true }\n",
	})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	sha, err := s.Push(ctx, repo, "feature", map[string]string{
		"network/main.tf":   "resource \"terraform_data\" \"net\" {\n  input = \"v2\"\n}\n",
		"network/new.tf":    "locals { x = 1 }\n",
		"network/remove.tf": "",
		"network/old.tf":    "",
		"network/moved.tf":  "locals {\n  a = 1\n  b = 2\n  c = 3\n}\n",
	}, "Change network")
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	num, err := s.OpenPull(ctx, repo, "feature", "main", "Change network", "alice")
	if err != nil {
		t.Fatalf("OpenPull: %v", err)
	}
	return fixture{s: s, gh: newClient(t, s, testToken), repo: repo, num: num, headSHA: sha}
}

// statusOf returns the HTTP status of a go-github error, or 0.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// gitCmd runs git in dir and returns its trimmed output, failing the test on error.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runGit(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.Git(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// rawRequest sends a request with an optional Authorization header.
func rawRequest(t *testing.T, method, u, auth string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
