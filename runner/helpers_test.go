package runner

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
)

// newTestRunner returns a Runner with its own data dir, the test terraform and
// the test environment.
func newTestRunner(t *testing.T) *Runner {
	t.Helper()
	r, err := New(Config{
		DataDir:   t.TempDir(),
		Git:       testenv.Git(t),
		Terraform: testenv.Terraform(t),
		Env:       testenv.TerraformEnv(t),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// gitRepo is a bare repository served over file:// plus a work clone to commit in.
type gitRepo struct {
	t    *testing.T
	bare string // path of the bare repo
	work string // path of the work clone
}

// newGitRepo creates a bare repo whose main branch holds files.
func newGitRepo(t *testing.T, files map[string]string) *gitRepo {
	t.Helper()
	testenv.Git(t)
	dir := t.TempDir()
	g := &gitRepo{t: t, bare: filepath.Join(dir, "origin.git"), work: filepath.Join(dir, "work")}
	g.git(dir, "init", "--quiet", "--bare", "-b", "main", g.bare)
	g.git(dir, "init", "--quiet", "-b", "main", g.work)
	g.git(g.work, "remote", "add", "origin", g.bare)
	g.commit("main", files)
	return g
}

func (g *gitRepo) url() string { return "file://" + g.bare }

func (g *gitRepo) repo() vcs.Repo {
	return vcs.Repo{Host: "example.com", Owner: "acme", Name: "infra", CloneURL: g.url(), DefaultBranch: "main"}
}

// git runs git in dir with a fixed identity and returns its trimmed stdout.
func (g *gitRepo) git(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (an empty content deletes the file) on branch, creating
// the branch from the current commit if needed, pushes it and returns the SHA.
func (g *gitRepo) commit(branch string, files map[string]string) string {
	g.t.Helper()
	switch {
	case g.git(g.work, "branch", "--list", branch) != "":
		g.git(g.work, "checkout", "--quiet", branch)
	case g.git(g.work, "branch", "--list") != "":
		g.git(g.work, "checkout", "--quiet", "-b", branch)
	default:
		// Unborn repository: the first commit makes the branch.
	}
	for name, content := range files {
		p := filepath.Join(g.work, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	g.git(g.work, "add", "--all")
	g.git(g.work, "commit", "--quiet", "--allow-empty", "-m", "change "+branch)
	g.git(g.work, "push", "--quiet", "--force", "origin", branch)
	return g.git(g.work, "rev-parse", "HEAD")
}

// checkout checks out branch at sha as pull 1 of g's repo.
func (g *gitRepo) checkout(t *testing.T, r *Runner, branch, sha string) string {
	t.Helper()
	dir, err := r.Checkout(context.Background(), Checkout{
		BaseRepo: g.repo(), HeadCloneURL: g.url(), HeadBranch: branch, HeadSHA: sha, Pull: 1,
	})
	if err != nil {
		t.Fatalf("Checkout(%s@%s): %v", branch, sha, err)
	}
	return dir
}

// serveGitHTTP serves the bare repos under root with git http-backend and
// requires the Basic credentials x-access-token:token, as GitHub does.
func serveGitHTTP(t *testing.T, root, token string) *httptest.Server {
	t.Helper()
	execPath, err := exec.Command(testenv.Git(t), "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newRunnerWith returns a Runner for cfg, with its own data dir, the test git,
// terraform and environment where cfg leaves them empty.
func newRunnerWith(t *testing.T, cfg Config) *Runner {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Git == "" {
		cfg.Git = testenv.Git(t)
	}
	if cfg.Terraform == "" {
		cfg.Terraform = testenv.Terraform(t)
	}
	if cfg.Env == nil {
		cfg.Env = testenv.TerraformEnv(t)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// Variables of the helper process (see runHelper). They start with ATOLL_, so
// the runner passes none of them on to the helper's children.
const (
	helperEnv          = "ATOLL_TEST_HELPER"           // what to run: run, git or terraform
	helperDirEnv       = "ATOLL_TEST_HELPER_DIR"       // the project directory
	helperDataEnv      = "ATOLL_TEST_HELPER_DATA"      // Config.DataDir
	helperTerraformEnv = "ATOLL_TEST_HELPER_TERRAFORM" // Config.Terraform
	helperURLEnv       = "ATOLL_TEST_HELPER_URL"       // the clone URL for git
)

// runHelper is the test binary standing in for the server: it runs one child
// process through a Runner and waits, until the test kills it. mode is what
// the child is: a run step ("run"), git fetching from a server that never
// answers ("git"), or terraform apply through the TF_VAR_ shim, with this
// binary as the shim ("terraform").
func runHelper(mode string) int {
	shim, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r, err := New(Config{DataDir: os.Getenv(helperDataEnv), Terraform: os.Getenv(helperTerraformEnv), Env: os.Environ(), Shim: shim})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	dir := os.Getenv(helperDirEnv)
	switch mode {
	case "run":
		_, err = r.Run(ctx, Job{Dir: dir, ProjectDir: ".", Steps: []config.Step{{Kind: config.StepRun, Run: "exec sleep 60"}}})
	case "terraform":
		steps := append(planSteps(), applySteps()...)
		_, err = r.Run(ctx, Job{Dir: dir, ProjectDir: ".", Steps: steps, PlanFile: filepath.Join(os.Getenv(helperDataEnv), "helper.tfplan")})
	case "git":
		url := os.Getenv(helperURLEnv)
		repo := vcs.Repo{Host: "example.com", Owner: "acme", Name: "infra", CloneURL: url}
		_, err = r.Checkout(ctx, Checkout{BaseRepo: repo, HeadCloneURL: url, HeadBranch: "main", HeadSHA: strings.Repeat("a", 40), Pull: 1})
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
