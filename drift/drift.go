// Package drift finds infrastructure changed outside Terraform. On a schedule it
// re-plans the default branch of each watched repository, project by project,
// and reports what differs: resources changed outside Terraform (the plan's
// resource_drift) and changes merged into Git but never applied. Each drifting
// project gets a GitHub issue that opens, updates and closes itself, a line on
// the drift page, and metrics. `atoll apply` on the issue restores Git's state.
// Drift never takes the locks of pull requests: it plans in a working copy of
// its own and applies only when no pull request holds the workspace.
//
// A check that fails (its plan errors) says nothing about drift, so it leaves
// the project's issue as it is; the page shows the failure and
// atoll_drift_checks_total{result="error"} counts it. A project removed from
// the repository leaves the page and the gauge, but its issue stays open:
// Atoll no longer plans it, so it cannot tell whether the drift was resolved.
package drift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/templates"
	"github.com/atollhq/atoll/vcs"
)

// Runner checks out branches and runs workflows.
type Runner interface {
	CheckoutBranch(ctx context.Context, repo vcs.Repo, branch, token string) (dir, sha string, err error)
	BranchPlanPath(repo vcs.Repo, branch, dir, workspace string) string
	Run(ctx context.Context, job runner.Job) (runner.Result, error)
	Binary(distribution, version string) (string, error)
}

// LockReader tells whether a pull request holds a workspace.
type LockReader interface {
	Get(ctx context.Context, key locking.Key) (locking.Lock, error)
}

// Config is what a Detector needs.
type Config struct {
	Runner Runner
	Issues vcs.IssueTracker
	// Statuses sets atoll/drift on the checked commit for repos whose
	// repos.yaml drift block reports to "status"; optional.
	Statuses vcs.StatusSetter
	Locks    LockReader
	RepoCfg  *config.ServerConfig
	GitToken func(ctx context.Context) (string, error)
	// Label marks drift issues; "atoll-drift" when empty.
	Label string
	// PageURL links issues to the drift page. Optional.
	PageURL  string
	Registry prometheus.Registerer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Status of a project.
type Status string

// Project statuses.
const (
	InSync  Status = "in_sync"
	Drifted Status = "drifted"
	Failed  Status = "error"
)

// Result is the latest check of one project of one repository.
type Result struct {
	Repo      vcs.Repo
	Branch    string
	SHA       string
	Project   string // name, or the directory when the project has none
	Dir       string
	Workspace string
	Status    Status
	Drift     []templates.DriftResource
	Pending   []templates.Resource
	// Error is a failed check's output (Status Failed).
	Error    string
	Since    time.Time
	Checked  time.Time
	IssueNum int
	IssueURL string
	// Skipped marks the last result of a project this check did not plan (a
	// pull request holds its workspace); nothing about it is new.
	Skipped bool
	// History is the project's recent checks by this process, oldest first
	// (at most maxHistory), this one last.
	History  []Check
	planFile string
	project  config.Project
	dir      string // checkout root
}

// Check is one past drift check of a project.
type Check struct {
	Checked time.Time `json:"checked"`
	Status  Status    `json:"status"`
	SHA     string    `json:"commit"`
	Drifted int       `json:"drifted_resources"`
	Pending int       `json:"pending_changes"`
}

// maxHistory bounds the checks kept per project: two days of hourly checks.
const maxHistory = 48

// Detector checks repositories for drift. It is safe for concurrent use; checks
// of one repository are serialised.
type Detector struct {
	cfg     Config
	log     *slog.Logger
	drifted *prometheus.GaugeVec
	runs    *prometheus.CounterVec

	mu      sync.Mutex // guards results and repoMus
	results map[string]Result
	repoMus map[string]*sync.Mutex
}

// New returns a Detector and registers its metrics.
func New(cfg Config) (*Detector, error) {
	if cfg.Label == "" {
		cfg.Label = "atoll-drift"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RepoCfg == nil {
		cfg.RepoCfg = config.DefaultServerConfig()
	}
	if cfg.GitToken == nil {
		cfg.GitToken = func(context.Context) (string, error) { return "", nil }
	}
	d := &Detector{cfg: cfg, log: cfg.Logger, results: map[string]Result{}, repoMus: map[string]*sync.Mutex{},
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atoll_drift_detected",
			Help: "1 when a project of a default branch differs from reality (drift or unapplied changes), 0 when in sync."},
			[]string{"repo", "project", "workspace"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atoll_drift_checks_total",
			Help: "Drift checks of a project, by result."}, []string{"result"}),
	}
	if cfg.Registry != nil {
		for _, c := range []prometheus.Collector{d.drifted, d.runs} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register drift metrics: %w", err)
			}
		}
	}
	return d, nil
}

func resultKey(repo vcs.Repo, dir, workspace string) string {
	return repo.ID() + "|" + dir + "|" + workspace
}

// Results returns the latest result of every project checked, sorted.
func (d *Detector) Results() []Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Result, 0, len(d.results))
	for _, r := range d.results {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return resultKey(out[i].Repo, out[i].Dir, out[i].Workspace) < resultKey(out[j].Repo, out[j].Dir, out[j].Workspace)
	})
	return out
}

func (d *Detector) repoMutex(repo vcs.Repo) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.repoMus[repo.ID()]
	if !ok {
		m = &sync.Mutex{}
		d.repoMus[repo.ID()] = m
	}
	return m
}

// CheckRepo plans every project of repo's default branch, reports each result
// on its issue, and returns the results.
func (d *Detector) CheckRepo(ctx context.Context, repo vcs.Repo) ([]Result, error) {
	m := d.repoMutex(repo)
	m.Lock()
	defer m.Unlock()
	return d.checkRepo(ctx, repo)
}

func (d *Detector) checkRepo(ctx context.Context, repo vcs.Repo) ([]Result, error) {
	branch := repo.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	log := d.log.With("repo", repo.FullName(), "branch", branch)
	settings := d.Settings(repo)
	dir, sha, projects, err := d.projects(ctx, repo, branch)
	if err != nil {
		// A check that cannot even list the projects is a failed check too, so
		// an alert on atoll_drift_checks_total{result="error"} sees it.
		d.runs.WithLabelValues(string(Failed)).Inc()
		return nil, err
	}
	var out []Result
	seen := map[string]bool{}
	for _, p := range projects {
		if !selected(settings.Projects, p) {
			continue
		}
		if held, ok := d.heldBy(ctx, repo, p); ok {
			// A pull request is planning or applying this workspace: a plan
			// now would contend for terraform's state lock (and fail its
			// apply), and the workspace is changing anyway. Its last result
			// stands until the next check.
			log.Info("drift check skipped: a pull request holds the workspace", "project", p.Dir, "workspace", p.Workspace, "pull", held.Pull)
			if prev, ok := d.previous(repo, p); ok {
				seen[resultKey(repo, prev.Dir, prev.Workspace)] = true
				prev.Skipped = true
				out = append(out, prev)
			}
			continue
		}
		r := d.checkProject(ctx, repo, branch, sha, dir, p)
		log.Info("drift check", "project", r.Project, "workspace", r.Workspace, "status", r.Status,
			"drifted_resources", len(r.Drift), "pending_changes", len(r.Pending))
		if settings.Reports(config.DriftReportIssue) {
			r = d.report(ctx, r)
		}
		d.record(r)
		seen[resultKey(r.Repo, r.Dir, r.Workspace)] = true
		out = append(out, r)
	}
	d.forget(repo, seen)
	if settings.Reports(config.DriftReportStatus) {
		d.reportStatus(ctx, repo, sha, out)
	}
	return out, nil
}

// heldBy returns the lock a pull request holds on p's workspace, if any.
func (d *Detector) heldBy(ctx context.Context, repo vcs.Repo, p config.Project) (locking.Lock, bool) {
	if d.cfg.Locks == nil {
		return locking.Lock{}, false
	}
	ws := p.Workspace
	if ws == "" {
		ws = "default"
	}
	l, err := d.cfg.Locks.Get(ctx, locking.Key{Repo: repo.ID(), Dir: p.Dir, Workspace: ws})
	if err != nil {
		return locking.Lock{}, false // free, or unreadable: the check runs
	}
	return l, true
}

// previous returns p's last result, if any.
func (d *Detector) previous(repo vcs.Repo, p config.Project) (Result, bool) {
	ws := p.Workspace
	if ws == "" {
		ws = "default"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.results[resultKey(repo, p.Dir, ws)]
	return r, ok
}

// Settings returns repo's drift settings: its repos.yaml drift block, or
// the defaults (every project, reported as issues) for a repository named
// by --drift-repos without one.
func (d *Detector) Settings(repo vcs.Repo) config.DriftSettings {
	branch := repo.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	if s, ok := d.cfg.RepoCfg.DriftFor(repo.ID(), branch); ok {
		return s
	}
	return config.DefaultDriftSettings("") // the schedule is the server's business
}

// selected reports whether project p matches one of globs (over its name or
// its directory).
func selected(globs []string, p config.Project) bool {
	for _, g := range globs {
		if ok, _ := doublestar.Match(g, p.Dir); ok {
			return true
		}
		if ok, _ := doublestar.Match(g, p.Name); ok && p.Name != "" {
			return true
		}
	}
	return false
}

// statusContext is the commit status drift checks set on the default branch.
const statusContext = "atoll/drift"

// reportStatus sets atoll/drift on the commit checked: success when every
// project is in sync, failure naming the drifted ones, error when a check
// failed and none drifted.
func (d *Detector) reportStatus(ctx context.Context, repo vcs.Repo, sha string, results []Result) {
	if d.cfg.Statuses == nil || sha == "" {
		return
	}
	var drifted []string
	failed := 0
	for _, r := range results {
		switch r.Status {
		case Drifted:
			drifted = append(drifted, r.Project)
		case Failed:
			failed++
		}
	}
	st := vcs.Status{SHA: sha, Context: statusContext, State: vcs.StatusSuccess, TargetURL: d.cfg.PageURL}
	switch {
	case len(drifted) > 0:
		st.State, st.Description = vcs.StatusFailure, fmt.Sprintf("drift in %s", strings.Join(drifted, ", "))
	case failed > 0:
		st.State, st.Description = vcs.StatusError, fmt.Sprintf("%d project check(s) failed", failed)
	default:
		st.Description = fmt.Sprintf("%d project(s) in sync", len(results))
	}
	if err := d.cfg.Statuses.SetStatus(ctx, repo, st); err != nil {
		d.log.Error("set drift status", "repo", repo.FullName(), "sha", short(sha), "error", err)
	}
}

// projects checks out branch of repo and finds its projects.
func (d *Detector) projects(ctx context.Context, repo vcs.Repo, branch string) (dir, sha string, _ []config.Project, _ error) {
	token, err := d.cfg.GitToken(ctx)
	if err != nil {
		return "", "", nil, fmt.Errorf("drift %s: get git token: %w", repo.FullName(), err)
	}
	dir, sha, err = d.cfg.Runner.CheckoutBranch(ctx, repo, branch, token)
	if err != nil {
		return "", "", nil, fmt.Errorf("drift %s: check out %s: %w", repo.FullName(), branch, err)
	}
	rc, _, err := config.LoadRepoConfig(dir, d.cfg.RepoCfg.RepoConfigFile(repo.ID(), branch))
	if err != nil {
		return "", "", nil, fmt.Errorf("drift %s: %w", repo.FullName(), err)
	}
	res, err := d.cfg.RepoCfg.Resolve(repo.ID(), branch, rc)
	if err != nil {
		return "", "", nil, fmt.Errorf("drift %s: %w", repo.FullName(), err)
	}
	projects, err := res.AllProjects(dir)
	if err != nil {
		return "", "", nil, fmt.Errorf("drift %s: find projects: %w", repo.FullName(), err)
	}
	return dir, sha, projects, nil
}

// forget drops the results and gauges of repo's projects that the check just
// made did not find (removed from the repository, or renamed), so the page
// and atoll_drift_detected stop reporting projects nobody checks any more.
// Their issues are left as they are: Atoll no longer plans those projects, so
// it cannot tell whether the drift they report was resolved (the resources may
// still exist, unmanaged); the team closes them by hand.
func (d *Detector) forget(repo vcs.Repo, seen map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, r := range d.results {
		if r.Repo.ID() != repo.ID() || seen[k] {
			continue
		}
		delete(d.results, k)
		d.drifted.DeleteLabelValues(r.Repo.FullName(), r.Project, r.Workspace)
		d.log.Info("drift project gone from the repository; its issue, if any, stays as it is",
			"repo", repo.FullName(), "project", r.Project, "workspace", r.Workspace, "issue", r.IssueNum)
	}
}

// checkProject plans one project and reads its plan's JSON.
func (d *Detector) checkProject(ctx context.Context, repo vcs.Repo, branch, sha, dir string, p config.Project) Result {
	ws := p.Workspace
	if ws == "" {
		ws = "default"
	}
	label := p.Name
	if label == "" {
		label = p.Dir
	}
	r := Result{Repo: repo, Branch: branch, SHA: sha, Project: label, Dir: p.Dir, Workspace: ws, Checked: d.cfg.Now(), project: p, dir: dir}
	r.planFile = d.cfg.Runner.BranchPlanPath(repo, branch, p.Dir, ws)
	fail := func(msg string) Result {
		r.Status, r.Error = Failed, msg
		d.runs.WithLabelValues(string(Failed)).Inc()
		return r
	}
	tf, err := d.cfg.Runner.Binary(p.TerraformDistribution, p.TerraformVersion)
	if err != nil {
		return fail(err.Error())
	}
	// No plan of an earlier check may be read (or applied) if this one's
	// workflow does not write a new one.
	for _, f := range []string{r.planFile, runner.ShowFile(r.planFile)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(fmt.Sprintf("remove the previous plan: %v", err))
		}
	}
	steps := slices.Clone(p.Workflow.Plan)
	if !slices.ContainsFunc(steps, func(s config.Step) bool { return s.Kind == config.StepShow }) {
		steps = append(steps, config.Step{Kind: config.StepShow})
	}
	_, err = d.cfg.Runner.Run(ctx, runner.Job{Dir: dir, ProjectDir: p.Dir, Workspace: ws, Steps: steps, Terraform: tf,
		PlanFile: r.planFile, Logger: d.log.With("repo", repo.FullName(), "project", label, "workspace", ws)})
	if err != nil {
		var se *runner.StepError
		if errors.As(err, &se) {
			return fail(fmt.Sprintf("%s failed (exit code %d):\n%s", se.Step, se.ExitCode, tailLines(se.Output, 20)))
		}
		return fail(err.Error())
	}
	data, err := os.ReadFile(runner.ShowFile(r.planFile))
	if err != nil {
		return fail("the plan's JSON could not be read")
	}
	if r.Drift, r.Pending, err = diffPlan(data); err != nil {
		return fail(err.Error())
	}
	r.Status = InSync
	if len(r.Drift) > 0 || len(r.Pending) > 0 {
		r.Status = Drifted
	}
	d.runs.WithLabelValues(string(r.Status)).Inc()
	return r
}

// record keeps r as the latest result and updates the gauge.
func (d *Detector) record(r Result) {
	d.mu.Lock()
	k := resultKey(r.Repo, r.Dir, r.Workspace)
	if prev, ok := d.results[k]; ok && prev.Project != r.Project {
		// The project was renamed: its gauge has a new label set.
		d.drifted.DeleteLabelValues(prev.Repo.FullName(), prev.Project, prev.Workspace)
	}
	prev := d.results[k]
	r.History = append(prev.History, Check{Checked: r.Checked, Status: r.Status, SHA: r.SHA,
		Drifted: len(r.Drift), Pending: len(r.Pending)})
	if over := len(r.History) - maxHistory; over > 0 {
		r.History = append([]Check(nil), r.History[over:]...)
	}
	d.results[k] = r
	d.mu.Unlock()
	if r.Status == Failed {
		return
	}
	v := 0.0
	if r.Status == Drifted {
		v = 1
	}
	d.drifted.WithLabelValues(r.Repo.FullName(), r.Project, r.Workspace).Set(v)
}

// marker is the hidden JSON line in an issue that identifies its project.
type marker struct {
	Repo      string    `json:"repo"`
	Dir       string    `json:"dir"`
	Workspace string    `json:"workspace"`
	Since     time.Time `json:"since"`
}

const markerPrefix = "atoll-drift "

func parseMarker(body string) (marker, bool) {
	i := strings.Index(body, "<!-- "+markerPrefix)
	if i < 0 {
		return marker{}, false
	}
	rest := body[i+len("<!-- "+markerPrefix):]
	j := strings.Index(rest, " -->")
	if j < 0 {
		return marker{}, false
	}
	var m marker
	if err := json.Unmarshal([]byte(rest[:j]), &m); err != nil {
		return marker{}, false
	}
	return m, true
}

// report opens, updates, reopens or closes the project's issue for r. A failed
// check says nothing about drift, so it leaves the issue as it is; it only
// looks the issue up, so the page links it and `atoll apply` on it can say
// why nothing was applied.
func (d *Detector) report(ctx context.Context, r Result) Result {
	if d.cfg.Issues == nil {
		return r
	}
	title := templates.DriftTitle(r.Repo.FullName(), r.Project, r.Workspace)
	iss, found, err := d.cfg.Issues.FindIssue(ctx, r.Repo, d.cfg.Label, title)
	if err != nil {
		d.log.Error("find drift issue", "repo", r.Repo.FullName(), "project", r.Project, "workspace", r.Workspace, "error", err)
		return r
	}
	if found {
		r.IssueNum, r.IssueURL = iss.Num, iss.URL
		if iss.State == vcs.IssueOpen {
			if m, ok := parseMarker(iss.Body); ok && !m.Since.IsZero() {
				r.Since = m.Since
			}
		}
	}
	switch {
	case r.Status == Failed:
		return r
	case r.Status == InSync:
		r.Since = time.Time{}
		if !found || iss.State != vcs.IssueOpen {
			return r
		}
	case r.Since.IsZero():
		r.Since = r.Checked // drift that is new, or back after the issue closed
	}
	body, err := d.body(r)
	if err != nil {
		d.log.Error("render drift issue", "repo", r.Repo.FullName(), "project", r.Project, "workspace", r.Workspace, "error", err)
		return r
	}
	switch {
	case r.Status == InSync:
		err = d.cfg.Issues.UpdateIssue(ctx, r.Repo, iss.Num, body, vcs.IssueClosed)
	case !found:
		var created vcs.Issue
		created, err = d.cfg.Issues.CreateIssue(ctx, r.Repo, title, body, []string{d.cfg.Label})
		r.IssueNum, r.IssueURL = created.Num, created.URL
	case iss.State != vcs.IssueOpen:
		err = d.cfg.Issues.UpdateIssue(ctx, r.Repo, iss.Num, body, vcs.IssueOpen)
	default:
		err = d.cfg.Issues.UpdateIssue(ctx, r.Repo, iss.Num, body, "")
	}
	if err != nil {
		d.log.Error("report drift issue", "repo", r.Repo.FullName(), "project", r.Project, "workspace", r.Workspace, "issue", iss.Num, "error", err)
	}
	return r
}

// body renders r's issue body. GitHub refuses a body over vcs.MaxCommentLen
// characters, which would leave large drift (a tagging policy touching
// hundreds of resources) without an issue; such a body names the resources
// without their attributes (a plan of the project still shows those).
func (d *Detector) body(r Result) (string, error) {
	mk, err := json.Marshal(marker{Repo: r.Repo.ID(), Dir: r.Dir, Workspace: r.Workspace, Since: r.Since})
	if err != nil {
		return "", fmt.Errorf("encode drift marker: %w", err)
	}
	data := templates.DriftIssue{Repo: r.Repo.FullName(), Project: r.Project, Workspace: r.Workspace,
		Branch: r.Branch, Commit: short(r.SHA), Since: r.Since, Checked: r.Checked, Drift: r.Drift, Pending: r.Pending,
		InSync: r.Status == InSync, PageURL: d.cfg.PageURL, Marker: markerPrefix + string(mk)}
	body, err := templates.Drift(data)
	if err != nil || utf8.RuneCountInString(body) <= vcs.MaxCommentLen {
		return body, err
	}
	data.Drift = make([]templates.DriftResource, len(r.Drift))
	for i, dr := range r.Drift {
		data.Drift[i] = templates.DriftResource{Address: dr.Address, Action: dr.Action}
	}
	return templates.Drift(data)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
