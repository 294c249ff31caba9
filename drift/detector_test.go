package drift

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

var testRepo = vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra", DefaultBranch: "main",
	CloneURL: "https://github.com/acme/infra.git"}

const inSyncPlan = `{"format_version": "1.2"}`

// driftPlan is a plan in which sandbox_server.web was resized outside
// Terraform, from small (Git) to size (reality).
func driftPlan(size string) string {
	return fmt.Sprintf(`{"format_version": "1.2",
  "resource_drift": [{"address": "sandbox_server.web", "change": {"actions": ["update"],
    "before": {"id": "1", "size": "small"}, "after": {"id": "1", "size": %q}}}],
  "resource_changes": [{"address": "sandbox_server.web", "change": {"actions": ["update"]}}]}`, size)
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type fixture struct {
	d      *Detector
	run    *fakeRunner
	issues *fakeIssues
	locks  *fakeLocks
	clock  *clock
	reg    *prometheus.Registry
}

func newFixture(t *testing.T, dirs ...string) *fixture {
	t.Helper()
	f := &fixture{run: newFakeRunner(t, dirs...), issues: &fakeIssues{}, locks: &fakeLocks{locks: map[locking.Key]locking.Lock{}},
		clock: &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}, reg: prometheus.NewRegistry()}
	d, err := New(Config{Runner: f.run, Issues: f.issues, Locks: f.locks, Registry: f.reg, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	return f
}

// check runs CheckRepo and returns the result of project dir.
func (f *fixture) check(t *testing.T, dir string) Result {
	t.Helper()
	results, err := f.d.CheckRepo(context.Background(), testRepo)
	if err != nil {
		t.Fatalf("CheckRepo: %v", err)
	}
	for _, r := range results {
		if r.Dir == dir {
			return r
		}
	}
	t.Fatalf("CheckRepo: no result for %q in %+v", dir, results)
	return Result{}
}

// gauge returns atoll_drift_detected of project, -1 when it has no series.
func (f *fixture) gauge(t *testing.T, project string) float64 {
	t.Helper()
	v, ok := f.metric(t, "atoll_drift_detected", map[string]string{"repo": testRepo.FullName(), "project": project, "workspace": "default"})
	if !ok {
		return -1
	}
	return v
}

// failedChecks returns atoll_drift_checks_total{result="error"}.
func (f *fixture) failedChecks(t *testing.T) float64 {
	t.Helper()
	v, _ := f.metric(t, "atoll_drift_checks_total", map[string]string{"result": string(Failed)})
	return v
}

// metric returns the value of the series of name with labels, as gathered
// from the registry; series counts how many series name has.
func (f *fixture) metric(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func (f *fixture) series(t *testing.T, name string) int {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// TestCheckRepoIssueLifecycle: first drift opens an issue; a second check
// updates it keeping Since; back in sync closes it; drift again reopens the
// same issue with a new Since.
func TestCheckRepoIssueLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "net")
	t1 := f.clock.Now()
	const title = "Drift: acme/infra net (default)"

	// In sync, no issue: nothing is opened.
	if r := f.check(t, "net"); r.Status != InSync || r.IssueNum != 0 {
		t.Fatalf("in sync: %+v", r)
	}
	if calls := f.issues.recorded(); len(calls) != 0 {
		t.Fatalf("in sync without an issue made issue calls: %+v", calls)
	}

	steps := []struct {
		name      string
		at        time.Time
		plan      string
		status    Status
		since     time.Time
		call      issueCall // Body is a substring the body must contain
		gauge     float64
		bodyLacks string
	}{
		{name: "first drift opens an issue", at: t1, plan: driftPlan("large"), status: Drifted, since: t1,
			call:  issueCall{Op: "create", Num: 1, Title: title, State: vcs.IssueOpen, Body: "`size`: `\"small\"` in Git, `\"large\"` in reality"},
			gauge: 1},
		{name: "second check updates it, keeping Since", at: t1.Add(time.Hour), plan: driftPlan("huge"), status: Drifted, since: t1,
			call:  issueCall{Op: "update", Num: 1, Title: title, Body: "Drift detected since 2026-11-23 10:00 UTC"},
			gauge: 1, bodyLacks: `"large"`},
		{name: "back in sync closes it", at: t1.Add(2 * time.Hour), plan: inSyncPlan, status: InSync,
			call:  issueCall{Op: "update", Num: 1, Title: title, State: vcs.IssueClosed, Body: "Back in sync"},
			gauge: 0},
		{name: "drift again reopens it with a new Since", at: t1.Add(3 * time.Hour), plan: driftPlan("large"), status: Drifted, since: t1.Add(3 * time.Hour),
			call:  issueCall{Op: "update", Num: 1, Title: title, State: vcs.IssueOpen, Body: "Drift detected since 2026-11-23 13:00 UTC"},
			gauge: 1},
	}
	for _, st := range steps {
		f.clock.set(st.at)
		f.run.setPlan("net", st.plan)
		before := len(f.issues.recorded())
		r := f.check(t, "net")
		if r.Status != st.status || !r.Since.Equal(st.since) || r.IssueNum != 1 || r.Checked != st.at {
			t.Errorf("%s: result status %s since %v issue %d checked %v, want %s since %v issue 1 checked %v",
				st.name, r.Status, r.Since, r.IssueNum, r.Checked, st.status, st.since, st.at)
		}
		calls := f.issues.recorded()[before:]
		if len(calls) != 1 {
			t.Fatalf("%s: issue calls %+v, want one", st.name, calls)
		}
		got := calls[0]
		if !strings.Contains(got.Body, st.call.Body) || (st.bodyLacks != "" && strings.Contains(got.Body, st.bodyLacks)) {
			t.Errorf("%s: body lacks %q (or has %q):\n%s", st.name, st.call.Body, st.bodyLacks, got.Body)
		}
		got.Body = st.call.Body
		if d := cmp.Diff(st.call, got); d != "" {
			t.Errorf("%s: issue call (-want +got):\n%s", st.name, d)
		}
		if g := f.gauge(t, "net"); g != st.gauge {
			t.Errorf("%s: atoll_drift_detected = %v, want %v", st.name, g, st.gauge)
		}
		if st.status == Drifted {
			m, ok := parseMarker(f.issues.issue(1).Body)
			if !ok || !m.Since.Equal(st.since) || m.Dir != "net" || m.Workspace != "default" || m.Repo != testRepo.ID() {
				t.Errorf("%s: marker = %+v, %v", st.name, m, ok)
			}
		}
	}
	if got := f.d.Results(); len(got) != 1 || got[0].Status != Drifted || got[0].IssueURL == "" {
		t.Errorf("Results() = %+v", got)
	}
}

// TestCheckRepoFailedLeavesIssue: a check whose plan fails touches no issue,
// keeps the issue's number and Since, records Status Failed with the output's
// tail, and counts an error.
func TestCheckRepoFailedLeavesIssue(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "net")
	t1 := f.clock.Now()
	f.run.setPlan("net", driftPlan("large"))
	f.check(t, "net")
	calls := len(f.issues.recorded())

	var out []string
	for i := 1; i <= 30; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	f.run.failRun("net", &runner.StepError{Step: "plan", ExitCode: 1, Output: strings.Join(out, "\n") + "\n", Err: errBoom})
	f.clock.set(t1.Add(time.Hour))
	r := f.check(t, "net")
	if r.Status != Failed || r.IssueNum != 1 || !r.Since.Equal(t1) {
		t.Errorf("failed check: status %s issue %d since %v, want error, 1, %v", r.Status, r.IssueNum, r.Since, t1)
	}
	if !strings.HasPrefix(r.Error, "plan failed (exit code 1):\nline 11\n") || !strings.HasSuffix(r.Error, "line 30") {
		t.Errorf("Error is not the output's last 20 lines:\n%s", r.Error)
	}
	if got := f.issues.recorded()[calls:]; len(got) != 0 {
		t.Errorf("a failed check touched the issue: %+v", got)
	}
	if is := f.issues.issue(1); is.State != vcs.IssueOpen || !strings.Contains(is.Body, `"large"`) {
		t.Errorf("issue after a failed check: %+v", is)
	}
	if g := f.gauge(t, "net"); g != 1 {
		t.Errorf("atoll_drift_detected = %v after a failed check, want the last known 1", g)
	}
	if n := f.failedChecks(t); n != 1 {
		t.Errorf("checks_total{result=error} = %v, want 1", n)
	}

	// A check that cannot even check out the branch is counted too.
	f.run.failCheckout(errBoom)
	if _, err := f.d.CheckRepo(context.Background(), testRepo); !errors.Is(err, errBoom) {
		t.Errorf("CheckRepo with a failing checkout = %v, want %v", err, errBoom)
	}
	if n := f.failedChecks(t); n != 2 {
		t.Errorf("checks_total{result=error} = %v after a failed checkout, want 2", n)
	}
}

// TestCheckRepoNoStalePlan: a workflow that writes no plan fails the check
// rather than reporting (or later applying) the previous check's plan.
func TestCheckRepoNoStalePlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "net")
	f.run.setPlan("net", driftPlan("large"))
	f.check(t, "net")
	f.run.setPlan("net", "")
	r := f.check(t, "net")
	if r.Status != Failed || len(r.Drift) != 0 {
		t.Errorf("a check that wrote no plan: %+v, want failed", r)
	}
	rem, err := f.d.Remediate(context.Background(), testRepo, 1)
	if err != nil || rem.Before.Status != Failed || slicesContainApply(f.run.ran()) {
		t.Errorf("Remediate = %+v, %v; want the failed check and no apply", rem, err)
	}
}

// TestCheckRepoProjectRemoved: a project gone from the repository leaves the
// results and the gauge; its issue is left as it is.
func TestCheckRepoProjectRemoved(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "net", "dns")
	f.run.setPlan("dns", driftPlan("large"))
	f.check(t, "net")
	calls := len(f.issues.recorded())
	if g := f.gauge(t, "dns"); g != 1 {
		t.Fatalf("dns gauge = %v, want 1", g)
	}
	f.run.removeProject(t, "dns")
	f.check(t, "net")
	for _, r := range f.d.Results() {
		if r.Dir == "dns" {
			t.Errorf("the removed project is still a result: %+v", r)
		}
	}
	if n := f.series(t, "atoll_drift_detected"); n != 1 {
		t.Errorf("%d atoll_drift_detected series, want 1 (net only)", n)
	}
	if got := f.issues.recorded()[calls:]; len(got) != 0 {
		t.Errorf("issue calls after the project was removed: %+v", got)
	}
	if is := f.issues.issue(1); is.State != vcs.IssueOpen {
		t.Errorf("the removed project's issue is %s, want left open", is.State)
	}
}

// TestCheckRepoSensitive: sensitive values never reach the issue tracker,
// whether one attribute or the whole value is marked sensitive.
func TestCheckRepoSensitive(t *testing.T) {
	t.Parallel()
	plans := map[string]string{
		"attribute marked": `{"format_version": "1.2", "resource_drift": [{"address": "db.main", "change": {"actions": ["update"],
		  "before": {"password": "hunter2", "size": "small"}, "after": {"password": "s3cr3t!", "size": "large"},
		  "before_sensitive": {"password": true}, "after_sensitive": {"password": true}}}]}`,
		"nested value marked": `{"format_version": "1.2", "resource_drift": [{"address": "db.main", "change": {"actions": ["update"],
		  "before": {"auth": [{"password": "hunter2"}], "size": "small"}, "after": {"auth": [{"password": "s3cr3t!"}], "size": "large"},
		  "before_sensitive": {"auth": [{"password": true}]}, "after_sensitive": {"auth": [{"password": true}]}}}]}`,
		"whole value marked": `{"format_version": "1.2", "resource_drift": [{"address": "db.main", "change": {"actions": ["update"],
		  "before": {"password": "hunter2", "size": "small"}, "after": {"password": "s3cr3t!", "size": "large"},
		  "before_sensitive": true, "after_sensitive": true}}]}`,
	}
	for name, plan := range plans {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "db")
			f.run.setPlan("db", plan)
			if r := f.check(t, "db"); r.Status != Drifted {
				t.Fatalf("status %s, want drifted", r.Status)
			}
			calls := f.issues.recorded()
			if len(calls) != 1 || !strings.Contains(calls[0].Body, "(sensitive)") {
				t.Fatalf("issue calls %+v, want one create that says (sensitive)", calls)
			}
			for _, secret := range []string{"hunter2", "s3cr3t"} {
				if strings.Contains(calls[0].Body, secret) {
					t.Errorf("the issue body shows the sensitive %q:\n%s", secret, calls[0].Body)
				}
			}
		})
	}
}

// TestCheckRepoLongBody: drift too large for one issue body is reported
// without attribute values rather than not at all.
func TestCheckRepoLongBody(t *testing.T) {
	t.Parallel()
	var drift []string
	for i := 0; i < 400; i++ {
		drift = append(drift, fmt.Sprintf(`{"address": "sandbox_server.s%d", "change": {"actions": ["update"],
		  "before": {"tags": {"owner": "team-a", "cost": "%0150d"}}, "after": {"tags": {"owner": "team-b", "cost": "%0150d"}}}}`, i, i, i+1))
	}
	f := newFixture(t, "net")
	f.run.setPlan("net", `{"format_version": "1.2", "resource_drift": [`+strings.Join(drift, ",")+`]}`)
	f.check(t, "net")
	calls := f.issues.recorded()
	if len(calls) != 1 || calls[0].Op != "create" {
		t.Fatalf("issue calls: %d, want one create", len(calls))
	}
	body := calls[0].Body
	if len([]rune(body)) > vcs.MaxCommentLen || !strings.Contains(body, "400 resources changed outside Terraform") ||
		!strings.Contains(body, "`sandbox_server.s399`") || strings.Contains(body, "team-b") {
		t.Errorf("body of %d characters does not name all 400 resources without values:\n%.500s", len([]rune(body)), body)
	}
}

// TestCheckRepoSerialised: concurrent checks of one repository never run
// their jobs at the same time.
func TestCheckRepoSerialised(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "net", "dns", "iam")
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.d.CheckRepo(context.Background(), testRepo); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f.run.mu.Lock()
	defer f.run.mu.Unlock()
	if f.run.overlap || len(f.run.jobs) != 12 {
		t.Errorf("overlap %v, %d jobs; want no overlap, 12 jobs", f.run.overlap, len(f.run.jobs))
	}
}

// TestCheckRepoIssueErrors: a tracker that cannot find issues leaves the result
// as checked and opens nothing (it could open a duplicate).
func TestCheckRepoIssueErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "net")
	f.issues.findErr = errBoom
	f.run.setPlan("net", driftPlan("large"))
	r := f.check(t, "net")
	if r.Status != Drifted || r.IssueNum != 0 || len(f.issues.recorded()) != 0 {
		t.Errorf("result %+v, issue calls %+v", r, f.issues.recorded())
	}
}

// TestRemediate covers `atoll apply` on a drift issue.
func TestRemediate(t *testing.T) {
	t.Parallel()
	applySteps := config.DefaultWorkflow().ApplySteps()
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fixture)
		issue   int
		wantErr error
		// check inspects the remediation and the jobs run by Remediate.
		check func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job)
	}{
		{name: "refuses while a pull request holds the workspace", issue: 1,
			prepare: func(t *testing.T, f *fixture) {
				f.locks.locks[locking.Key{Repo: testRepo.ID(), Dir: "net", Workspace: "default"}] = locking.Lock{Pull: 7, User: "alice"}
			},
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if rem.LockedBy == nil || rem.LockedBy.Pull != 7 || rem.Output != "" || rem.Err != nil {
					t.Errorf("remediation %+v, want locked by #7", rem)
				}
				// The check before it skips the workspace a pull request
				// holds: no plan contends for its state lock.
				if len(jobs) != 0 {
					t.Errorf("jobs %+v, want none while a pull request holds the workspace", jobs)
				}
			}},
		{name: "applies the fresh plan with the workflow's apply steps", issue: 1,
			prepare: func(t *testing.T, f *fixture) {
				// What the apply does to reality: the check after it is in sync.
				f.run.onApply(func() { f.run.plans["net"] = inSyncPlan })
			},
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if len(jobs) != 3 || !isApply(jobs[1]) {
					t.Fatalf("jobs %+v, want plan, apply, plan", jobs)
				}
				if d := cmp.Diff(applySteps, jobs[1].Steps); d != "" {
					t.Errorf("apply steps (-want +got):\n%s", d)
				}
				if jobs[1].PlanFile != jobs[0].PlanFile || jobs[1].ProjectDir != "net" || jobs[1].Workspace != "default" {
					t.Errorf("apply job %+v does not apply the fresh plan %s", jobs[1], jobs[0].PlanFile)
				}
				if rem.Err != nil || !strings.Contains(rem.Output, "Apply complete!") || rem.Before.Status != Drifted {
					t.Errorf("remediation %+v", rem)
				}
				if rem.After.Status != InSync || f.issues.issue(1).State != vcs.IssueClosed {
					t.Errorf("after the apply: %+v, issue %+v", rem.After, f.issues.issue(1))
				}
			}},
		{name: "unknown issue", issue: 42, wantErr: ErrUnknownIssue,
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if slicesContainApply(jobs) {
					t.Errorf("an unknown issue applied: %+v", jobs)
				}
			}},
		{name: "a failed fresh check applies nothing and says why", issue: 1,
			prepare: func(t *testing.T, f *fixture) {
				f.run.failRun("net", &runner.StepError{Step: "init", ExitCode: 1, Output: "Error: backend unreachable\n", Err: errBoom})
			},
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if rem.Before.Status != Failed || !strings.Contains(rem.Before.Error, "backend unreachable") || slicesContainApply(jobs) {
					t.Errorf("remediation %+v, jobs %+v", rem, jobs)
				}
			}},
		{name: "a failed check after the apply still reports the apply", issue: 1,
			prepare: func(t *testing.T, f *fixture) {
				f.run.setPlan("net", driftPlan("large"))
				f.run.onApply(func() { f.run.checkoutErr = errBoom })
			},
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if !strings.Contains(rem.Output, "Apply complete!") || rem.Err != nil || rem.After.Status != Failed ||
					!strings.Contains(rem.After.Error, "boom") {
					t.Errorf("remediation %+v", rem)
				}
			}},
		{name: "drift that changed since the issue was written is not applied", issue: 1,
			prepare: func(t *testing.T, f *fixture) { f.run.setPlan("net", driftPlan("huge")) },
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if !rem.Changed || slicesContainApply(jobs) {
					t.Errorf("remediation %+v applied a plan nobody reviewed: %+v", rem, jobs)
				}
				if !strings.Contains(f.issues.issue(1).Body, `"huge"`) {
					t.Errorf("the issue was not refreshed:\n%s", f.issues.issue(1).Body)
				}
			}},
		{name: "after a restart the first command refreshes, the second applies", issue: 1,
			prepare: func(t *testing.T, f *fixture) {
				f.d.mu.Lock()
				f.d.results = map[string]Result{} // what a restart forgets
				f.d.mu.Unlock()
			},
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if !rem.Changed || slicesContainApply(jobs) {
					t.Fatalf("first command after a restart applied: %+v", rem)
				}
				f.run.onApply(func() { f.run.plans["net"] = inSyncPlan })
				again, err := f.d.Remediate(context.Background(), testRepo, 1)
				if err != nil || again.Changed || again.Err != nil || again.After.Status != InSync {
					t.Errorf("second command: %+v, %v", again, err)
				}
			}},
		{name: "a lock that cannot be read stops the apply", issue: 1, wantErr: errBoom,
			prepare: func(t *testing.T, f *fixture) { f.locks.err = errBoom },
			check: func(t *testing.T, f *fixture, rem Remediation, jobs []runner.Job) {
				if slicesContainApply(jobs) {
					t.Errorf("applied with an unreadable lock: %+v", jobs)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "net")
			f.run.setPlan("net", driftPlan("large"))
			if r := f.check(t, "net"); r.IssueNum != 1 {
				t.Fatalf("no drift issue: %+v", r)
			}
			if tt.prepare != nil {
				tt.prepare(t, f)
			}
			n := len(f.run.ran())
			rem, err := f.d.Remediate(context.Background(), testRepo, tt.issue)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Remediate = %v, want %v", err, tt.wantErr)
			}
			tt.check(t, f, rem, f.run.ran()[n:])
		})
	}
}

func isApply(j runner.Job) bool {
	for _, s := range j.Steps {
		if s.Kind == config.StepApply {
			return true
		}
	}
	return false
}

func slicesContainApply(jobs []runner.Job) bool {
	for _, j := range jobs {
		if isApply(j) {
			return true
		}
	}
	return false
}

// A scheduled check skips a workspace a pull request holds (its plan would
// contend for terraform's state lock with the PR's apply) and keeps its last
// result; once the lock is released it is checked again.
func TestCheckSkipsLockedWorkspace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "net", "app")
	f.run.setPlan("net", driftPlan("large"))
	first := f.check(t, "net")
	f.locks.locks[locking.Key{Repo: testRepo.ID(), Dir: "net", Workspace: "default"}] = locking.Lock{Pull: 7}
	before := len(f.run.ran())
	f.run.setPlan("net", inSyncPlan)
	again := f.check(t, "net")
	ranNet := 0
	for _, j := range f.run.ran()[before:] {
		if j.ProjectDir == "net" {
			ranNet++
		}
	}
	if ranNet != 0 || again.Status != Drifted || !again.Checked.Equal(first.Checked) {
		t.Errorf("locked workspace: %d plans, result %+v; want none and the last result kept", ranNet, again)
	}
	delete(f.locks.locks, locking.Key{Repo: testRepo.ID(), Dir: "net", Workspace: "default"})
	if r := f.check(t, "net"); r.Status != InSync {
		t.Errorf("after the lock is released: %+v, want in sync", r)
	}
}
