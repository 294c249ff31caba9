// Package testdrive is Atoll's local demo: it starts the fake GitHub from
// vcs/vcstest, creates a sample repository that uses only terraform_data (no
// registry downloads, no cloud), starts a real Atoll server against it, and walks
// through plan → apply → lock conflict → merge → lock release, printing every
// comment Atoll posts.
package testdrive

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// Target is what the Atoll server under test must be pointed at.
type Target struct {
	// APIURL is the fake GitHub's REST base URL (--gh-api-url).
	APIURL string
	// Token is the GitHub token the fake accepts (--gh-token).
	Token string
	// WebhookSecret signs deliveries (--gh-webhook-secret).
	WebhookSecret string
	// BotUser is the login Atoll's comments appear under (--gh-user).
	BotUser string
	// DataDir is a fresh directory for Atoll's data (--data-dir).
	DataDir string
	// Env is the environment terraform should run with.
	Env []string
}

// Options configure a test drive.
type Options struct {
	// Out receives the walkthrough.
	Out io.Writer
	// Dir is the working directory; a temporary one when empty.
	Dir string
	// StartAtoll starts an Atoll server for t and returns its base URL and a stop function.
	StartAtoll func(ctx context.Context, t Target) (url string, stop func(), err error)
	// StepTimeout bounds each step; two minutes when zero.
	StepTimeout time.Duration
	// Stay keeps the servers up after the walkthrough until ctx ends.
	Stay bool
	// Env is the base environment terraform runs with (the caller's os.Environ()).
	Env []string
}

const (
	owner    = "acme"
	repoName = "infra"
	token    = "testdrive-token"
	secret   = "testdrive-webhook-secret"
)

// SampleFiles is the sample repository's first commit. Each project keeps its
// state in stateDir through the local backend, standing in for the remote
// backend (S3, GCS, Terraform Cloud) a real team shares between pull requests.
func SampleFiles(stateDir string) map[string]string {
	backend := func(project string) string {
		return fmt.Sprintf("terraform {\n  required_version = \">= 1.5.0\"\n  backend \"local\" {\n    path = %q\n  }\n}\n",
			filepath.ToSlash(filepath.Join(stateDir, project+".tfstate")))
	}
	return map[string]string{
		"README.md":          "# acme/infra\n\nA sample infrastructure repository for `atoll testdrive`.\n",
		"network/backend.tf": backend("network"),
		"network/main.tf": `resource "terraform_data" "vpc" {
  input = "10.0.0.0/16"
}
`,
		"app/backend.tf": backend("app"),
		"app/main.tf": `resource "terraform_data" "service" {
  input = "app-v1"
}
`,
	}
}

// Run runs the walkthrough. It returns an error naming the step that failed.
func Run(ctx context.Context, o Options) error {
	if o.StepTimeout == 0 {
		o.StepTimeout = 2 * time.Minute
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "atoll-testdrive-")
		if err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	out := o.Out
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	gh, err := vcstest.New(vcstest.Options{Dir: filepath.Join(dir, "github"), Token: token, WebhookSecret: secret})
	if err != nil {
		return fmt.Errorf("start fake github: %w", err)
	}
	defer gh.Close()
	env, err := terraformEnv(dir, o.Env)
	if err != nil {
		return err
	}
	url, stop, err := o.StartAtoll(ctx, Target{APIURL: gh.APIURL(), Token: token, WebhookSecret: secret, BotUser: gh.BotUser(),
		DataDir: filepath.Join(dir, "atoll"), Env: env})
	if err != nil {
		return fmt.Errorf("start atoll: %w", err)
	}
	defer stop()
	gh.SetWebhookURL(url + "/events")

	say("Atoll test drive")
	say("  fake GitHub:  %s", gh.URL())
	say("  Atoll:        %s  (locks page; jobs at %s/jobs)", url+"/", url)
	say("")

	files := SampleFiles(filepath.Join(dir, "state"))
	repo, err := gh.CreateRepo(ctx, owner, repoName, files)
	if err != nil {
		return fmt.Errorf("create sample repo: %w", err)
	}
	w := &walk{ctx: ctx, gh: gh, repo: repo, out: out, timeout: o.StepTimeout}

	// Step 1: a PR is opened and planned automatically.
	say("── Step 1: alice opens a pull request that adds a resource to network/ ──")
	sha1, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": files["network/main.tf"] + `
resource "terraform_data" "web" {
  input = "v1"
}
`}, "network: add web")
	if err != nil {
		return fmt.Errorf("step 1: push: %w", err)
	}
	pr1, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web server", "alice")
	if err != nil {
		return fmt.Errorf("step 1: open pull request: %w", err)
	}
	if _, err := w.status(sha1, "atoll/plan", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 1: autoplan: %w", err)
	}
	if err := w.showComment(pr1, "autoplan", func(b string) bool { return strings.Contains(b, "Plan: 2 to add") }); err != nil {
		return fmt.Errorf("step 1: %w", err)
	}

	// Step 2: a second PR on the same directory is blocked by the lock.
	say("── Step 2: carol opens another pull request on network/; alice's lock blocks it ──")
	if _, err := gh.Push(ctx, repo, "bigger-vpc", map[string]string{"network/main.tf": strings.Replace(files["network/main.tf"], "10.0.0.0/16", "10.0.0.0/8", 1)}, "network: bigger vpc"); err != nil {
		return fmt.Errorf("step 2: push: %w", err)
	}
	pr2, err := gh.OpenPull(ctx, repo, "bigger-vpc", "main", "Bigger VPC", "carol")
	if err != nil {
		return fmt.Errorf("step 2: open pull request: %w", err)
	}
	if err := w.showComment(pr2, "lock held", func(b string) bool { return strings.Contains(b, fmt.Sprintf("locked by #%d", pr1)) }); err != nil {
		return fmt.Errorf("step 2: %w", err)
	}

	// Step 3: apply the reviewed plan.
	say("── Step 3: bob approves and comments `atoll apply` on #%d ──", pr1)
	if err := gh.Review(repo, pr1, "bob", "APPROVED"); err != nil {
		return fmt.Errorf("step 3: review: %w", err)
	}
	if _, err := gh.Comment(ctx, repo, pr1, "bob", "atoll apply"); err != nil {
		return fmt.Errorf("step 3: comment: %w", err)
	}
	if _, err := w.status(sha1, "atoll/apply", vcs.StatusSuccess); err != nil {
		return fmt.Errorf("step 3: apply: %w", err)
	}
	if err := w.showComment(pr1, "apply", func(b string) bool { return strings.Contains(b, "Apply complete!") }); err != nil {
		return fmt.Errorf("step 3: %w", err)
	}

	// Step 4: merging releases the lock; the other PR can plan.
	say("── Step 4: alice merges #%d; its locks are released and carol re-plans #%d ──", pr1, pr2)
	if err := gh.ClosePull(ctx, repo, pr1, true); err != nil {
		return fmt.Errorf("step 4: merge: %w", err)
	}
	if err := w.showComment(pr1, "release", func(b string) bool { return strings.Contains(strings.ToLower(b), "released") }); err != nil {
		return fmt.Errorf("step 4: %w", err)
	}
	if _, err := gh.Comment(ctx, repo, pr2, "carol", "atoll plan"); err != nil {
		return fmt.Errorf("step 4: comment: %w", err)
	}
	if err := w.showComment(pr2, "plan after release", func(b string) bool {
		return strings.Contains(b, "Plan:") && strings.Contains(b, "to change") && !strings.Contains(b, "locked by")
	}); err != nil {
		return fmt.Errorf("step 4: %w", err)
	}

	say("Test drive complete: plan → lock conflict → apply → merge → lock released.")
	if o.Stay {
		say("")
		say("Atoll is still running at %s — open it in a browser. Press Ctrl-C to stop.", url+"/")
		<-ctx.Done()
	}
	return nil
}

// walk holds what the steps share.
type walk struct {
	ctx     context.Context
	gh      *vcstest.Server
	repo    vcs.Repo
	out     io.Writer
	timeout time.Duration
}

func (w *walk) status(sha, name string, want vcs.StatusState) (vcs.Status, error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	st, err := w.gh.WaitStatus(ctx, w.repo, sha, name, want)
	if err != nil {
		last := w.gh.Statuses(w.repo, sha)
		detail := "no status was set"
		if len(last) > 0 {
			l := last[len(last)-1]
			detail = fmt.Sprintf("last status %s %s: %s", l.Context, l.State, l.Description)
		}
		return st, fmt.Errorf("waiting for %s %s: %w (%s)", name, want, err, detail)
	}
	return st, nil
}

// showComment waits for a comment on PR num matching match and prints it.
func (w *walk) showComment(num int, what string, match func(string) bool) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	c, err := w.gh.WaitComment(ctx, w.repo, num, func(c vcstest.RecordedComment) bool { return match(c.Body) })
	if err != nil {
		var bodies []string
		for _, c := range w.gh.Comments(w.repo, num) {
			bodies = append(bodies, c.Body)
		}
		return fmt.Errorf("waiting for the %s comment on #%d: %w; comments so far:\n%s", what, num, err, strings.Join(bodies, "\n---\n"))
	}
	fmt.Fprintf(w.out, "\n💬 @%s commented on #%d:\n", c.User, num)
	for _, line := range strings.Split(strings.TrimRight(c.Body, "\n"), "\n") {
		fmt.Fprintf(w.out, "  │ %s\n", line)
	}
	fmt.Fprintln(w.out)
	return nil
}

// terraformEnv is base with a CLI config of the test drive's own (the machine's
// may point at a missing file) and no checkpoint calls.
func terraformEnv(dir string, base []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	rc := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(rc, []byte("# atoll testdrive: no provider installation from the network\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write terraform cli config: %w", err)
	}
	env := append(append([]string(nil), base...), "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1")
	return env, nil
}
