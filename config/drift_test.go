package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDriftBlock(t *testing.T) {
	t.Parallel()
	sc, err := ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  drift: {}
- id: github.com/acme/infra
  drift:
    schedule: "@every 30m"
    projects: ["network", "apps/**"]
    report: [issue, status]
    remediate: apply
- id: github.com/acme/web
`))
	if err != nil {
		t.Fatal(err)
	}
	ignore := cmpopts.IgnoreUnexported(DriftSettings{})
	got, ok := sc.DriftFor("github.com/acme/other", "main")
	want := DriftSettings{Schedule: "@every 6h", Projects: []string{"*"}, Report: []string{"issue"}, Remediate: "none"}
	if d := cmp.Diff(want, got, ignore); !ok || d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	got, _ = sc.DriftFor("github.com/acme/infra", "main")
	want = DriftSettings{Schedule: "@every 30m", Projects: []string{"network", "apps/**"}, Report: []string{"issue", "status"}, Remediate: "apply"}
	if d := cmp.Diff(want, got, ignore); d != "" {
		t.Errorf("acme/infra (-want +got):\n%s", d)
	}
	// A later entry without drift keeps the earlier one's.
	if _, ok := sc.DriftFor("github.com/acme/web", "main"); !ok {
		t.Error("acme/web lost the drift block of the /.*/ entry")
	}
	if !got.Reports(DriftReportStatus) || !sc.HasDrift() {
		t.Error("Reports/HasDrift")
	}
	none, _ := ParseServerConfig("repos.yaml", []byte("repos:\n- id: /.*/\n"))
	if _, ok := none.DriftFor("github.com/acme/infra", "main"); ok || none.HasDrift() {
		t.Error("a repos.yaml without drift blocks has drift")
	}
}

func TestDriftBlockErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ yaml, want string }{
		{"repos:\n- id: /.*/\n  drift: {schedule: \"every 6h\"}\n", `repos.yaml:3:21: repos[0].drift.schedule: invalid schedule "every 6h"`},
		{"repos:\n- id: /.*/\n  drift: {projects: [\"a/[\"]}\n", `repos.yaml:3:22: repos[0].drift.projects[0]: invalid glob "a/["`},
		{"repos:\n- id: /.*/\n  drift: {report: [slack]}\n", `repos.yaml:3:20: repos[0].drift.report[0]: "slack" is not one of "issue", "status"`},
		{"repos:\n- id: /.*/\n  drift: {remediate: auto}\n", `repos.yaml:3:22: repos[0].drift.remediate: "auto" is not one of "none", "apply"`},
		{"repos:\n- id: /.*/\n  drift: {report: [status], remediate: apply}\n", `repos.yaml:3:40: repos[0].drift.remediate: remediate: apply needs report to include issue`},
		{"repos:\n- id: /.*/\n  drift: {shedule: \"@daily\"}\n", `repos.yaml:3:11: repos[0].drift.shedule: unknown key (did you mean "schedule"?)`},
	} {
		_, err := ParseServerConfig("repos.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseServerConfig(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

// Next is the schedule's next tick plus a delay fixed per repository, the
// same on every replica, below a tenth of the interval.
func TestDriftNext(t *testing.T) {
	t.Parallel()
	s := DriftSettings{Schedule: "@every 1h"}
	now := time.Date(2026, 12, 4, 10, 20, 0, 0, time.UTC)
	a1, a2 := s.Next("github.com/acme/infra", now), s.Next("github.com/acme/infra", now)
	b := s.Next("github.com/acme/web", now)
	if !a1.Equal(a2) {
		t.Errorf("Next is not deterministic: %s, %s", a1, a2)
	}
	for _, at := range []time.Time{a1, b} {
		if at.Before(now.Truncate(time.Hour).Add(time.Hour)) || at.After(now.Truncate(time.Hour).Add(time.Hour+5*time.Minute)) {
			t.Errorf("Next = %s, want within 5m after 11:00", at)
		}
	}
	if a1.Equal(b) {
		t.Errorf("two repositories got the same delay: %s", a1)
	}
	// A tick whose delay has not yet passed is still due.
	justAfter := now.Truncate(time.Hour).Add(time.Hour) // 11:00:00
	if at := s.Next("github.com/acme/infra", justAfter); !at.After(justAfter) || at.After(justAfter.Add(6*time.Minute)) {
		t.Errorf("Next at the tick = %s", at)
	}
	cronDaily := DriftSettings{Schedule: "0 3 * * *"}
	if at := cronDaily.Next("github.com/acme/infra", now); at.Hour() != 3 || at.Minute() >= 5 {
		t.Errorf("daily Next = %s, want 03:00-03:05", at)
	}
}

// TestNextTickAligned: replicas that start at different moments compute the
// same drift tick, so only one claims it.
func TestNextTickAligned(t *testing.T) {
	t.Parallel()
	every, err := ParseSchedule("@every 1h")
	if err != nil {
		t.Fatal(err)
	}
	a := nextTick(every, time.Date(2026, 11, 23, 10, 7, 3, 0, time.UTC))
	b := nextTick(every, time.Date(2026, 11, 23, 10, 51, 0, 0, time.UTC))
	want := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	if !a.Equal(want) || !b.Equal(want) {
		t.Errorf("NextTick = %v and %v, want both %v", a, b, want)
	}
	hourly, err := ParseSchedule("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	if got := nextTick(hourly, time.Date(2026, 11, 23, 10, 7, 3, 0, time.UTC)); !got.Equal(want) {
		t.Errorf("nextTick(cron) = %v, want %v", got, want)
	}
}

func TestNotifyBlock(t *testing.T) {
	t.Parallel()
	sc, err := ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  notify:
  - url: https://hooks.slack.com/services/T/B/x
- id: github.com/acme/infra
  notify:
  - {url: "https://ops.example.com/atoll", events: [apply_failed, drift_opened]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.NotifyFor("github.com/acme/web"); len(got) != 1 || got[0].Format != "slack" {
		t.Errorf("acme/web targets = %+v", got)
	}
	if got := sc.NotifyFor("github.com/acme/infra"); len(got) != 1 || got[0].Format != "json" || len(got[0].Events) != 2 {
		t.Errorf("acme/infra targets = %+v", got)
	}
	if !sc.HasNotify() {
		t.Error("HasNotify")
	}
	for _, tt := range []struct{ yaml, want string }{
		{"repos:\n- id: /.*/\n  notify: {url: x}\n", "repos.yaml:3:11: repos[0].notify: must be a list of targets"},
		{"repos:\n- id: /.*/\n  notify:\n  - url: ftp://x/y\n", "repos.yaml:4:10: repos[0].notify[0].url: a notification URL must be an http(s) URL"},
		{"repos:\n- id: /.*/\n  notify:\n  - {url: \"https://x/y\", events: [apply_done]}\n", `repos.yaml:4:35: repos[0].notify[0].events[0]: "apply_done" is not one of`},
		{"repos:\n- id: /.*/\n  notify:\n  - {format: slack}\n", "repos.yaml:4:5: repos[0].notify[0].url: required key is missing"},
	} {
		if _, err := ParseServerConfig("repos.yaml", []byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseServerConfig(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
