package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/drift"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// localDriftUsage is the help of `atoll drift` on a local checkout.
const localDriftUsage = `Usage: atoll drift [--repo-config repos.yaml] [--tf-binary PATH] [--json] [DIR]

Checks the Terraform projects of DIR (default: the current directory) for
drift, with the server's project discovery and repos.yaml rules, and no GitHub:
each project is planned in a temporary copy of DIR (DIR is not modified) and
classified as in sync, drifted outside Terraform, or in Git but not applied.
Exit status: 0 in sync, 2 drift, 1 a check failed.

With --drift-repos (or ATOLL_DRIFT_REPOS and no DIR), checks those GitHub
repositories instead, with the same flags as atoll server (see atoll server -h).

Flags:
`

// isLocalDrift tells `atoll drift DIR` from `atoll drift --drift-repos ...`:
// a positional argument or no --drift-repos anywhere means a local check.
func isLocalDrift(args []string, getenv func(string) (string, bool)) bool {
	for _, a := range args {
		name := strings.TrimLeft(a, "-")
		if a != name && (name == "drift-repos" || strings.HasPrefix(name, "drift-repos=")) {
			return false
		}
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return true // a DIR
		}
	}
	if v, ok := getenv("ATOLL_DRIFT_REPOS"); ok && v != "" {
		return false
	}
	return true
}

// localDriftResult is one project's line of `atoll drift --json`.
type localDriftResult struct {
	Project   string            `json:"project"`
	Dir       string            `json:"dir"`
	Workspace string            `json:"workspace"`
	Status    drift.Status      `json:"status"`
	Drifted   []driftedResource `json:"changed_outside_terraform"`
	Pending   []resourceChange  `json:"in_git_not_applied"`
	Error     string            `json:"error,omitempty"`
}

// driftedResource is a resource changed outside Terraform.
type driftedResource struct {
	Address string `json:"address"`
	// Action is "update" (changed) or "delete" (removed).
	Action string           `json:"action"`
	Attrs  []driftAttribute `json:"attributes,omitempty"`
}

// driftAttribute is one changed attribute, as HCL values.
type driftAttribute struct {
	Name    string `json:"name"`
	Git     string `json:"git"`
	Reality string `json:"reality"`
}

// resourceChange is a change in Git that was not applied.
type resourceChange struct {
	Address string `json:"address"`
	Action  string `json:"action"`
}

func newLocalDriftResult(r drift.Result) localDriftResult {
	out := localDriftResult{Project: r.Project, Dir: r.Dir, Workspace: r.Workspace, Status: r.Status, Error: r.Error,
		Drifted: []driftedResource{}, Pending: []resourceChange{}}
	for _, d := range r.Drift {
		dr := driftedResource{Address: d.Address, Action: d.Action}
		for _, a := range d.Attrs {
			dr.Attrs = append(dr.Attrs, driftAttribute{Name: a.Name, Git: a.Git, Reality: a.Reality})
		}
		out.Drifted = append(out.Drifted, dr)
	}
	for _, p := range r.Pending {
		out.Pending = append(out.Pending, resourceChange{Address: p.Address, Action: p.Action})
	}
	return out
}

// runLocalDrift is `atoll drift [flags] [DIR]`.
func runLocalDrift(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("atoll drift", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), localDriftUsage)
		fset.PrintDefaults()
	}
	reposYAML := fset.String("repo-config", "", "server-side repos.yaml whose rules apply (workflows, allowed overrides, repo config file name)")
	tf := fset.String("tf-binary", "terraform", "terraform binary (a name looked up on PATH, or a path)")
	binDir := fset.String("tf-bin-dir", "", "directory of other terraform versions (terraform<VERSION>), for projects that ask for one")
	asJSON := fset.Bool("json", false, "print the results as JSON")
	verbose := fset.Bool("v", false, "log what runs")
	// A server flag without --drift-repos: the user meant to check GitHub.
	var server serverOptions
	sfs := flag.NewFlagSet("server", flag.ContinueOnError)
	server.register(sfs)
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && fset.Lookup(name) == nil && sfs.Lookup(name) != nil {
			return fmt.Errorf("--%s is a flag for checking GitHub repositories: add --drift-repos owner/name, or leave it out to check a local directory (atoll drift -h)", name)
		}
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 1 {
		return fmt.Errorf("one DIR at most, got %d: %s", fset.NArg(), strings.Join(fset.Args(), " "))
	}
	dir := "."
	if fset.NArg() == 1 {
		dir = fset.Arg(0)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	serverCfg := config.DefaultServerConfig()
	if *reposYAML != "" {
		data, err := os.ReadFile(*reposYAML)
		if err != nil {
			return fmt.Errorf("read --repo-config: %w", err)
		}
		if serverCfg, err = config.ParseServerConfig(filepath.Base(*reposYAML), data); err != nil {
			return err
		}
	}
	if err := absPaths(tf, binDir); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	work, err := os.MkdirTemp("", "atoll-drift-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	copyDir := filepath.Join(work, "checkout")
	if err := copyTree(root, copyDir); err != nil {
		return fmt.Errorf("copy %s: %w", dir, err)
	}
	repo, sha := localRepo(ctx, root)
	shim, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the atoll binary: %w", err)
	}
	run, err := runner.New(runner.Config{DataDir: filepath.Join(work, "data"), Terraform: *tf, BinDir: *binDir,
		Env: os.Environ(), Logger: logger, Shim: shim})
	if err != nil {
		return err
	}
	det, err := drift.New(drift.Config{Runner: localCheckout{Runner: run, dir: copyDir, sha: sha}, RepoCfg: serverCfg, Logger: logger})
	if err != nil {
		return err
	}
	results, err := det.CheckRepo(ctx, repo)
	if err != nil {
		return err
	}
	out := make([]localDriftResult, 0, len(results))
	drifted, failed := 0, 0
	for _, r := range results {
		out = append(out, newLocalDriftResult(r))
		switch r.Status {
		case drift.Drifted:
			drifted++
		case drift.Failed:
			failed++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printLocalDrift(stdout, root, out)
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d of %d project(s) could not be checked", failed, len(out))
	case drifted > 0:
		return errDrifted
	}
	return nil
}

// printLocalDrift prints a table of projects, then the resources of each
// drifted one and the output of each failed one.
func printLocalDrift(w io.Writer, root string, rs []localDriftResult) {
	if len(rs) == 0 {
		fmt.Fprintf(w, "No Terraform projects found in %s.\n", root)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tDIR\tWORKSPACE\tSTATUS")
	for _, r := range rs {
		status := "in sync"
		switch r.Status {
		case drift.Drifted:
			var parts []string
			if n := len(r.Drifted); n > 0 {
				parts = append(parts, fmt.Sprintf("%d changed outside Terraform", n))
			}
			if n := len(r.Pending); n > 0 {
				parts = append(parts, fmt.Sprintf("%d in Git but not applied", n))
			}
			status = "DRIFTED: " + strings.Join(parts, ", ")
		case drift.Failed:
			status = "ERROR: the check failed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Project, r.Dir, r.Workspace, status)
	}
	tw.Flush()
	for _, r := range rs {
		switch r.Status {
		case drift.Drifted:
			fmt.Fprintf(w, "\n%s (%s):\n", r.Project, r.Workspace)
			for _, d := range r.Drifted {
				fmt.Fprintf(w, "  changed outside Terraform: %s (%s)\n", d.Address, d.Action)
				for _, a := range d.Attrs {
					fmt.Fprintf(w, "      %s: %s in Git, %s in reality\n", a.Name, a.Git, a.Reality)
				}
			}
			for _, p := range r.Pending {
				fmt.Fprintf(w, "  in Git but not applied:   %s (%s)\n", p.Address, p.Action)
			}
		case drift.Failed:
			fmt.Fprintf(w, "\n%s (%s): %s\n", r.Project, r.Workspace, r.Error)
		}
	}
}

// localCheckout is a runner whose "checkout" is a copy of a local directory.
type localCheckout struct {
	*runner.Runner
	dir, sha string
}

func (l localCheckout) CheckoutBranch(context.Context, vcs.Repo, string, string) (string, string, error) {
	return l.dir, l.sha, nil
}

// githubRemote matches the GitHub host, owner and name of a remote URL
// (https://host/owner/name(.git) or git@host:owner/name(.git)).
var githubRemote = regexp.MustCompile(`^(?:[a-z+]+://(?:[^@/]+@)?|[^@/]+@)([^/:]+)(?::\d+)?[/:]([^/]+)/([^/]+?)(?:\.git)?/?$`)

// localRepo names the checkout at root for repos.yaml's repo IDs: its origin
// remote's host/owner/name when it has one, else local/<dir name>; its branch
// and commit come from git when root is a git checkout.
func localRepo(ctx context.Context, root string) (vcs.Repo, string) {
	git := func(args ...string) string {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	repo := vcs.Repo{Host: "local", Owner: "local", Name: filepath.Base(root)}
	if m := githubRemote.FindStringSubmatch(git("remote", "get-url", "origin")); m != nil {
		repo.Host, repo.Owner, repo.Name = strings.ToLower(m[1]), m[2], m[3]
	}
	repo.DefaultBranch = git("rev-parse", "--abbrev-ref", "HEAD")
	if repo.DefaultBranch == "" || repo.DefaultBranch == "HEAD" {
		repo.DefaultBranch = "main"
	}
	return repo, git("rev-parse", "HEAD")
}

// copyTree copies the directory src to dst, leaving out .git and .terraform
// directories (git metadata, and terraform's own working state, which a check
// makes afresh). Symbolic links are copied as links.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if p != src && (d.Name() == ".git" || d.Name() == ".terraform") {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target)
		default:
			return nil // sockets, devices: nothing terraform reads
		}
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, fi.Mode().Perm()|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
