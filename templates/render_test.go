package templates

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// now is the fixed render time of every golden test.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const (
	jobURL   = "https://atoll.example.com/jobs/7f3c"
	locksURL = "https://atoll.example.com/locks"
)

// tfOut returns a Terraform 1.5.7 output captured into testdata/tf.
func tfOut(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tf", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// golden compares got with testdata/NAME.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run `go test ./templates -update` to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got), run `go test ./templates -update` if the change is intended:\n%s", path, diff)
	}
}

// checkComment asserts what every comment must be: non-empty, no colour codes,
// ending with one newline, and containing each of want.
func checkComment(t *testing.T, got string, want []string) {
	t.Helper()
	if strings.TrimSpace(got) == "" {
		t.Fatal("empty comment")
	}
	if strings.Contains(got, "\x1b") {
		t.Error("comment contains a terminal escape code")
	}
	if !strings.HasSuffix(got, "\n") || strings.HasSuffix(got, "\n\n") {
		t.Error("comment does not end with exactly one newline")
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("comment lacks %q", w)
		}
	}
}

// visible returns the comment's text outside <details> elements: what a reader
// sees without expanding anything.
func visible(s string) string {
	var b strings.Builder
	var st blocks
	for _, l := range strings.SplitAfter(s, "\n") {
		hidden := false
		for _, o := range st.stack {
			hidden = hidden || o.kind == blockDetails
		}
		st.feed(l)
		if !hidden && !strings.HasPrefix(strings.TrimSpace(l), "<details") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func webResources() []Resource {
	return []Resource{{Action: ActionCreate, Address: "terraform_data.web"}}
}

func destroyResources() []Resource {
	return []Resource{
		{Action: ActionUpdate, Address: "terraform_data.config"},
		{Action: ActionReplace, Address: "terraform_data.db"},
		{Action: ActionDelete, Address: "terraform_data.legacy"},
		{Action: ActionDelete, Address: "terraform_data.old"},
		{Action: ActionCreate, Address: "terraform_data.web"},
	}
}

func TestPlanGolden(t *testing.T) {
	t.Parallel()
	network := Project{
		Name: "network", Dir: "network", Workspace: "default", Status: StatusPlanned,
		Counts: Counts{Add: 1}, Resources: webResources(), Output: tfOut(t, "plan_create.txt"),
		ApplyCommand: "atoll apply -d network",
	}
	lock := &LockInfo{Pull: 12, PullURL: "https://github.com/acme/infra/pull/12", User: "alice", Since: now.Add(-2*time.Hour - 5*time.Minute)}
	tests := []struct {
		name string
		c    Comment
		// want must appear in the comment; wantVisible outside any <details>.
		want, wantVisible []string
	}{
		{
			name: "plan_one",
			c:    Comment{Projects: []Project{network}, JobURL: jobURL},
			wantVisible: []string{
				"### Plan for `network` · workspace `default` — 1 to add, 0 to change, 0 to destroy\n",
				"| + create | `terraform_data.web` |",
				"Plan: 1 to add, 0 to change, 0 to destroy.",
				"Apply: `atoll apply -d network` · Discard and unlock: `atoll unlock` · [Live log](" + jobURL + ")",
			},
			want: []string{"<details><summary>Plan output</summary>\n\n```diff\n", "\n+ resource \"terraform_data\" \"web\" {\n+     id     = (known after apply)\n"},
		},
		{
			name: "plan_policies",
			c: Comment{Projects: []Project{func() Project {
				p := network
				p.Policies = []PolicyResult{
					{Set: "naming", Passed: true, Warnings: []string{"terraform_data.web: name should start with acme-"}},
					{Set: "tags", Failures: []string{"terraform_data.web: missing tag owner", "terraform_data.web: missing tag team"}},
				}
				return p
			}()}, JobURL: jobURL},
			wantVisible: []string{
				"**Policies:** ✅ `naming` · ❌ `tags` (2 failures)",
				"- ❌ `tags`: terraform_data.web: missing tag owner",
				"- ⚠️ `naming`: terraform_data.web: name should start with acme-",
				"ask a policy owner to comment `atoll approve_policies`",
			},
		},
		{
			name: "plan_policies_two_approvals",
			c: Comment{Projects: []Project{func() Project {
				p := network
				p.Policies = []PolicyResult{
					{Set: "iam", Failures: []string{"terraform_data.web: admin role"}, Needed: 2},
				}
				return p
			}()}, JobURL: jobURL},
			wantVisible: []string{
				"**Policies:** ❌ `iam` (1 failure, 0 of 2 approvals)",
				"ask 2 policy owners each to comment `atoll approve_policies`",
			},
		},
		{
			name: "plan_destroy",
			c: Comment{Projects: []Project{{
				Name: "network", Dir: "network", Workspace: "default", Status: StatusPlanned,
				Counts: Counts{Add: 2, Change: 1, Destroy: 3}, Resources: destroyResources(),
				Output: tfOut(t, "plan_destroy.txt"),
			}}, JobURL: jobURL},
			wantVisible: []string{
				"— 2 to add, 1 to change, **3 to destroy**",
				"⚠️ **This plan destroys 3 resources:** `terraform_data.db` (replaced), `terraform_data.legacy`, `terraform_data.old`.",
				"| -/+ replace | `terraform_data.db` |",
				"| - destroy | `terraform_data.old` |",
				"Plan: 2 to add, 1 to change, 3 to destroy.",
				"Apply: `atoll apply -p network`",
			},
			want: []string{"\n-/+ resource \"terraform_data\" \"db\" {\n", "\n- resource \"terraform_data\" \"old\" {\n", "\n~ resource \"terraform_data\" \"config\" {\n"},
		},
		{
			name: "plan_no_changes",
			c: Comment{Projects: []Project{{
				Dir: "network", Workspace: "default", Status: StatusNoChanges, Output: tfOut(t, "plan_no_changes.txt"),
			}}, JobURL: jobURL},
			wantVisible: []string{"### Plan for `network` · workspace `default` — no changes\n"},
		},
		{
			name: "plan_error_init",
			c: Comment{Projects: []Project{{
				Name: "network", Dir: "network", Workspace: "default", Status: StatusError,
				Step: "init", ExitCode: 1, Output: tfOut(t, "init_error.txt"),
			}}, JobURL: jobURL},
			wantVisible: []string{
				"### Plan for `network` · workspace `default` — failed at `init`",
				"`init` failed with exit code 1. Its output:",
				"Error: Failed to query available provider packages",
				"[Full log](" + jobURL + ")",
				"**What to try:** Check the backend settings",
				"`atoll plan -p network`",
			},
		},
		{
			name: "plan_error_hook",
			c: Comment{Projects: []Project{{
				Dir: "network", Workspace: "staging", Status: StatusError,
				Step: "run: ./scripts/check-tags.sh", ExitCode: 2, Output: tfOut(t, "hook_error.txt"),
			}}, JobURL: jobURL},
			wantVisible: []string{
				"`run: ./scripts/check-tags.sh` failed with exit code 2. The last 20 lines of its output:",
				"FAIL terraform_data.web: missing tag \"owner\"",
				"2 of 26 resources are missing required tags",
				"A custom `run` step of the workflow failed",
				"`atoll plan -d network -w staging`",
			},
			want: []string{"<details><summary>Full output (29 lines)</summary>", "checking required tags in network/*.tf"},
		},
		{
			name: "plan_locked",
			c: Comment{Projects: []Project{{
				Name: "network", Dir: "network", Workspace: "default", Status: StatusLocked, Lock: lock,
			}}, JobURL: jobURL, LocksURL: locksURL, Now: now},
			wantVisible: []string{
				"### Plan for `network` · workspace `default` — locked by #12",
				"`network` (workspace `default`) is locked by #12 (@alice, planned 2 hours ago), so it was not planned here. It frees up when #12 is merged or closed, or when someone comments `atoll unlock` on #12 or uses the [Locks page](" + locksURL + ").",
			},
		},
		{
			name: "plan_queued",
			c: Comment{Projects: []Project{{
				Name: "network", Dir: "network", Workspace: "default", Status: StatusLocked, Lock: queuedLock(lock, 2),
			}}, JobURL: jobURL, LocksURL: locksURL, Now: now},
			wantVisible: []string{
				"### Plan for `network` · workspace `default` — queued behind #12",
				"`network` (workspace `default`) is locked by #12 (@alice, planned 2 hours ago); this plan is queued (position 2) and runs when #12 releases it: when #12 is merged or closed, or when someone comments `atoll unlock` on #12 or uses the [Locks page](" + locksURL + "). Atoll then plans this pull request's latest commit by itself. To leave the queue, comment `atoll unlock` here.",
			},
		},
		{
			name: "plan_many_queued",
			c: Comment{Projects: []Project{
				{Name: "edge", Dir: "edge", Workspace: "default", Status: StatusLocked, Lock: queuedLock(lock, 1)},
				{Name: "dns", Dir: "dns", Workspace: "default", Status: StatusRefused,
					Reason: "it waits with `edge`, which is queued behind #12 (a command locks all its projects together)."},
			}, JobURL: jobURL, LocksURL: locksURL, Now: now},
			wantVisible: []string{
				"### Plan for 2 projects — 1 queued · 1 blocked\n",
				"| `edge` | `default` | queued behind #12 (position 1) | – | – | – |",
				"this plan is queued (position 1) and runs when #12 releases it",
			},
		},
		{
			name: "plan_many",
			c: Comment{Projects: []Project{
				network,
				{Name: "app", Dir: "app", Workspace: "staging", Status: StatusNoChanges, Output: tfOut(t, "plan_no_changes.txt")},
				{Name: "db", Dir: "db", Workspace: "default", Status: StatusPlanned, Counts: Counts{Add: 2, Change: 1, Destroy: 3},
					Resources: destroyResources(), Output: tfOut(t, "plan_destroy.txt")},
				{Name: "dns", Dir: "dns", Workspace: "default", Status: StatusError, Step: "plan", ExitCode: 1, Output: tfOut(t, "plan_error.txt")},
				{Name: "edge", Dir: "edge", Workspace: "default", Status: StatusLocked, Lock: lock},
			}, JobURL: jobURL, LocksURL: locksURL, Now: now},
			wantVisible: []string{
				"### Plan for 5 projects — 2 planned · 1 no changes · 1 failed · 1 locked\n",
				"| `network` | `default` | planned | 1 | 0 | 0 |",
				"| `app` | `staging` | no changes | 0 | 0 | 0 |",
				"| `db` | `default` | planned | 2 | 1 | **3** |",
				"| `dns` | `default` | **failed**: `plan`, exit 1 | – | – | – |",
				"| `edge` | `default` | locked by #12 | – | – | – |",
				"⚠️ **`db` destroys 3 resources:** `terraform_data.db` (replaced), `terraform_data.legacy`, `terraform_data.old`.",
				"`app` (workspace `staging`): no changes.",
				"`edge` (workspace `default`) is locked by #12 (@alice, planned 2 hours ago)",
				"Apply all: `atoll apply` · Discard and unlock: `atoll unlock` · Re-plan: `atoll plan` · [Live log](" + jobURL + ")",
			},
			want: []string{
				"<details><summary>network · workspace default — 1 to add, 0 to change, 0 to destroy</summary>",
				"<details><summary>dns · workspace default — failed at plan</summary>",
				"Plan: 2 to add, 1 to change, 3 to destroy.",
				"Apply only this project: `atoll apply -p db`",
				"Error: Reference to undeclared input variable",
			},
		},
		{
			name: "plan_running",
			c:    Comment{Projects: []Project{network}, Running: []string{"app", "db"}, JobURL: jobURL, Now: now},
			wantVisible: []string{
				"### Plan for 3 projects — 1 planned · 2 running\n",
				"⏳ Still running: `app`, `db`. This comment updates as they finish.",
				"[Live log](" + jobURL + ")",
			},
		},
		{
			name:        "plan_none",
			c:           Comment{JobURL: jobURL},
			wantVisible: []string{"### Plan: no projects to plan", "`atoll plan -d DIR`"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Plan(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			checkComment(t, got, tc.want)
			checkComment(t, visible(got), tc.wantVisible)
			golden(t, tc.name, got)
		})
	}
}

func TestPlanManyHidesApplyWhileRunning(t *testing.T) {
	t.Parallel()
	got, err := Plan(Comment{Projects: []Project{{Dir: "a", Status: StatusPlanned, Counts: Counts{Add: 1}}}, Running: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "Apply all") || !strings.Contains(got, "⏳ Still running: `b`.") {
		t.Errorf("comment offers to apply all while projects still run:\n%s", got)
	}
}

func TestApplyGolden(t *testing.T) {
	t.Parallel()
	refused := Project{
		Name: "network", Dir: "network", Workspace: "default", Status: StatusRefused,
		Requirements: []Requirement{
			{Name: "mergeable", Met: true},
			{Name: "approved", Detail: "needs 1 approving review", Source: "the server's repos.yaml for `acme/*`"},
			{Name: "undiverged", Met: true},
		},
		Reason:       "Ask a reviewer other than the author to approve the pull request.",
		ApplyCommand: "atoll apply -d network",
	}
	tests := []struct {
		name              string
		c                 Comment
		want, wantVisible []string
	}{
		{
			name: "apply_success",
			c: Comment{Projects: []Project{{
				Name: "network", Dir: "network", Workspace: "default", Status: StatusApplied,
				Counts: Counts{Add: 1}, Output: tfOut(t, "apply_create.txt"),
			}}, JobURL: jobURL},
			wantVisible: []string{
				"### Apply for `network` · workspace `default` — succeeded\n",
				"\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.\n",
				"Next: merge this pull request; merging releases its locks. · [Live log](" + jobURL + ")",
			},
			want: []string{"<details><summary>Apply output</summary>", "terraform_data.web: Creation complete after 0s"},
		},
		{
			name: "apply_drift_issue",
			c: Comment{Projects: []Project{{
				Name: "network", Dir: "network", Workspace: "default", Status: StatusApplied,
				Counts: Counts{Change: 1}, Output: tfOut(t, "apply_create.txt"),
			}}, JobURL: jobURL, Next: "Atoll checked again: this issue closes itself once the project is back in sync."},
			wantVisible: []string{"Atoll checked again: this issue closes itself once the project is back in sync. · [Live log](" + jobURL + ")"},
		},
		{
			name: "apply_failure",
			c: Comment{Projects: []Project{{
				Name: "migrations", Dir: "db/migrations", Workspace: "prod", Status: StatusError,
				Step: "apply", ExitCode: 1, Output: tfOut(t, "apply_error.txt"),
			}}, JobURL: jobURL},
			wantVisible: []string{
				"### Apply for `migrations` · workspace `prod` — failed at `apply`",
				"`apply` failed with exit code 1. Its output:",
				"Error: local-exec provisioner error",
				"**What to try:** Terraform may have changed some resources before it stopped",
				"`atoll plan -p migrations`",
			},
		},
		{
			name: "apply_refused",
			c:    Comment{Projects: []Project{refused}, JobURL: jobURL},
			wantVisible: []string{
				"### Apply blocked for `network` · workspace `default`\n",
				"Apply blocked for `network`: requirement `approved` is not met (set by the server's repos.yaml for `acme/*`). ✅ mergeable · ❌ approved (needs 1 approving review) · ✅ undiverged.",
				"Ask a reviewer other than the author",
				"Then comment `atoll apply -d network` again.",
			},
		},
		{
			name: "apply_many",
			c: Comment{Projects: []Project{
				{Name: "network", Dir: "network", Workspace: "default", Status: StatusApplied, Counts: Counts{Add: 2, Change: 1, Destroy: 3}, Output: tfOut(t, "apply_destroy.txt")},
				{Name: "migrations", Dir: "db/migrations", Workspace: "prod", Status: StatusError, Step: "apply", ExitCode: 1, Output: tfOut(t, "apply_error.txt")},
				{Name: "dns", Dir: "dns", Workspace: "default", Status: StatusRefused, Requirements: []Requirement{
					{Name: "approved", Detail: "needs 2 approving reviews", Source: "atoll.yaml"},
					{Name: "mergeable", Detail: "GitHub says the branch is behind", Source: "atoll.yaml"},
				}},
			}, JobURL: jobURL, Now: now},
			wantVisible: []string{
				"### Apply for 3 projects — 1 applied · 1 failed · 1 blocked\n",
				"| `network` | `default` | applied | 2 | 1 | **3** |",
				"| `migrations` | `prod` | **failed**: `apply`, exit 1 | – | – | – |",
				"| `dns` | `default` | blocked | – | – | – |",
				"Apply blocked for `dns`: requirements `approved` and `mergeable` are not met (set by atoll.yaml). ❌ approved (needs 2 approving reviews) · ❌ mergeable (GitHub says the branch is behind).",
				"Not everything applied.",
			},
			want: []string{"<details><summary>network · workspace default — Apply complete! Resources: 2 added, 1 changed, 3 destroyed.</summary>"},
		},
		{
			name:        "apply_none",
			c:           Comment{},
			wantVisible: []string{"### Apply: nothing to apply"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Apply(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			checkComment(t, got, tc.want)
			checkComment(t, visible(got), tc.wantVisible)
			golden(t, tc.name, got)
		})
	}
}

func TestHelpUnlockRefusedGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		render func() (string, error)
		want   []string
	}{
		{
			name:   "help",
			render: func() (string, error) { return Help(HelpData{}) },
			want: []string{
				"### Atoll commands",
				"atoll plan   [-d DIR] [-w WORKSPACE] [-p PROJECT] [--verbose] [-- EXTRA_ARGS]",
				"atoll unlock [-d DIR -w WORKSPACE]",
				"This server allows no extra Terraform flags after `--`.",
			},
		},
		{
			name: "help_error",
			render: func() (string, error) {
				return Help(HelpData{Error: "atoll plan: flag provided but not defined: -x @acme/admins", AllowedFlags: []string{"-target", "-var", "-refresh=false"}})
			},
			want: []string{
				"### Atoll could not run that command\n\n`atoll plan: flag provided but not defined: -x @acme/admins`\n",
				"Extra Terraform flags this server allows after `--`: `-target`, `-var`, `-refresh=false`.",
			},
		},
		{
			name: "unlock",
			render: func() (string, error) {
				return Unlock(UnlockData{Released: []Released{
					{Name: "network", Dir: "network", Workspace: "default", Lock: true, Plan: true},
					{Dir: "app", Workspace: "staging", Plan: true},
				}})
			},
			want: []string{
				"### Unlocked 2 projects",
				"- `network` · workspace `default`: lock released, plan discarded",
				"- `app` · workspace `staging`: plan discarded",
			},
		},
		{
			name: "unlock_merged",
			render: func() (string, error) {
				return Unlock(UnlockData{Closed: "merged", LocksURL: locksURL, Released: []Released{{Dir: "network", Workspace: "default", Lock: true, Plan: true}}})
			},
			want: []string{"### Locks released: this pull request was merged", "- `network` · workspace `default`: lock released, plan discarded", "Other pull requests can now plan this project."},
		},
		{
			name: "unlock_merged_handed_over",
			render: func() (string, error) {
				return Unlock(UnlockData{Closed: "merged", LocksURL: locksURL, Released: []Released{{Dir: "network", Workspace: "default", Lock: true, Plan: true, HandedTo: 14}}})
			},
			want: []string{"### Locks released: this pull request was merged",
				"- `network` · workspace `default`: lock released, plan discarded; passed to #14, which was queued for it and is planned now",
				"\n\nThe [Locks page](" + locksURL + ") shows what is still held."},
		},
		{
			name: "unlock_one_handed_over",
			render: func() (string, error) {
				return Unlock(UnlockData{Released: []Released{{Dir: "network", Workspace: "default", Lock: true, Plan: true, HandedTo: 14}}, Dir: "network", Workspace: "default"})
			},
			want: []string{"Released the lock and discarded the saved plan. The lock passed to #14, which was queued for it and is planned now."},
		},
		{
			name: "unlock_one",
			render: func() (string, error) {
				return Unlock(UnlockData{Released: []Released{{Dir: "network", Workspace: "default", Lock: true, Plan: true}}, Dir: "network", Workspace: "default"})
			},
			want: []string{"### Unlocked `network` · workspace `default`", "Released the lock and discarded the saved plan."},
		},
		{
			name: "unlock_none",
			render: func() (string, error) {
				return Unlock(UnlockData{LocksURL: locksURL, Dir: "network", Workspace: "default"})
			},
			want: []string{"### Nothing to unlock", "no locks and no saved plans for `network` (workspace `default`).", "[Locks page](" + locksURL + ")"},
		},
		{
			name: "refused_user",
			render: func() (string, error) {
				return Refused(RefusedData{
					Command: "atoll apply",
					Reason:  "@mallory is not allowed to run `atoll apply` here: the server's `--allow-users` list does not include them.",
					Fix:     "Ask someone on the list (or an admin of the Atoll server) to comment `atoll apply`.",
				})
			},
			want: []string{"### Atoll did not run `atoll apply`", "**To fix it:** Ask someone on the list"},
		},
		{
			name: "refused_flag",
			render: func() (string, error) {
				return Refused(RefusedData{
					Command: "atoll plan -d network -- -destroy",
					Reason:  "The extra flag `-destroy` is not allowed on this server.",
					Fix:     "Remove it, or ask an admin to add it to the allowed flags. Allowed: `-target`, `-var`.",
					JobURL:  jobURL,
				})
			},
			want: []string{"### Atoll did not run `atoll plan -d network -- -destroy`", "[Log](" + jobURL + ")"},
		},
		{
			name: "refused_config",
			render: func() (string, error) {
				return Refused(RefusedData{
					Reason: "The repository's `atoll.yaml` is not valid, so no project was planned.",
					Details: []string{
						"atoll.yaml:7:5: unknown field \"workflws\" (did you mean \"workflow\"?)",
						"atoll.yaml:12:16: autoplan.when_modified must be a list of globs",
					},
					Fix: "Fix the file in this pull request and push; Atoll reads it again on every push.",
				})
			},
			want: []string{
				"### Atoll did not run this pull request's plans",
				"```\natoll.yaml:7:5: unknown field \"workflws\" (did you mean \"workflow\"?)\natoll.yaml:12:16: autoplan.when_modified must be a list of globs\n```",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.render()
			if err != nil {
				t.Fatal(err)
			}
			checkComment(t, got, tc.want)
			golden(t, tc.name, got)
		})
	}
}

func TestSplitLongPlanGolden(t *testing.T) {
	t.Parallel()
	body, err := Plan(Comment{Projects: []Project{{
		Name: "network", Dir: "network", Workspace: "default", Status: StatusPlanned,
		Counts: Counts{Add: 40}, Output: tfOut(t, "plan_large.txt"),
	}}, JobURL: jobURL})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 5000
	parts := Split(body, limit)
	if len(parts) < 3 {
		t.Fatalf("got %d parts of a %d-byte body at limit %d, want at least 3", len(parts), len(body), limit)
	}
	for i, p := range parts {
		if len(p) > limit {
			t.Errorf("part %d is %d bytes, over the limit %d", i+1, len(p), limit)
		}
	}
	summary := body[:strings.Index(body, "<details>")]
	if !strings.HasPrefix(parts[0], summary) {
		t.Errorf("part 1 does not start with the whole summary %q", summary)
	}
	if !strings.HasPrefix(parts[1], "_Part 2 of ") || !strings.Contains(parts[1], "<details><summary>Plan output (continued)</summary>\n\n```diff\n") {
		t.Errorf("part 2 does not reopen the plan output:\n%s", parts[1][:200])
	}
	last := parts[len(parts)-1]
	if !strings.Contains(last, "Plan: 40 to add, 0 to change, 0 to destroy.") || !strings.Contains(last, "Apply: `atoll apply -p network`") {
		t.Errorf("last part lacks the summary line and next step:\n%s", last)
	}
	golden(t, "plan_split", strings.Join(parts, "\n<!-- ======== next comment ======== -->\n"))
}

func TestOutputColourCodesRemoved(t *testing.T) {
	t.Parallel()
	out := "\x1b[0m\x1b[1mterraform_data.web: Creating...\x1b[0m\r\n\x1b[32m\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.\x1b[0m\r\n"
	got, err := Apply(Comment{Projects: []Project{{Dir: "network", Status: StatusApplied, Output: out}}})
	if err != nil {
		t.Fatal(err)
	}
	checkComment(t, got, []string{"terraform_data.web: Creating...\n", "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.\n"})
	if strings.Contains(got, "\r") {
		t.Errorf("comment keeps carriage returns:\n%q", got)
	}
}

func TestFencesOutlastOutputBackticks(t *testing.T) {
	t.Parallel()
	out := "Error: bad heredoc\n```\nnot the end\n````\n"
	got, err := Plan(Comment{Projects: []Project{{Dir: "x", Status: StatusError, Step: "plan", ExitCode: 1, Output: out}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "`````\nError: bad heredoc\n```\nnot the end\n````\n`````") {
		t.Errorf("output's backticks are not fenced safely:\n%s", got)
	}
	var st blocks
	for _, l := range strings.Split(got, "\n") {
		st.feed(l)
	}
	if len(st.stack) != 0 {
		t.Errorf("comment leaves blocks open: %+v", st.stack)
	}
}

func TestProjectCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p           Project
		apply, plan string
	}{
		{Project{Dir: "network"}, "atoll apply -d network", "atoll plan -d network"},
		{Project{Dir: "network", Workspace: "default"}, "atoll apply -d network", "atoll plan -d network"},
		{Project{Dir: "network", Workspace: "prod"}, "atoll apply -d network -w prod", "atoll plan -d network -w prod"},
		{Project{Name: "net", Dir: "network", Workspace: "prod"}, "atoll apply -p net", "atoll plan -p net"},
		{Project{Dir: "network", ApplyCommand: "atoll apply -d network -- -target=x", PlanCommand: "atoll plan -d network -- -target=x"}, "atoll apply -d network -- -target=x", "atoll plan -d network -- -target=x"},
		{Project{}, "atoll apply -d .", "atoll plan -d ."},
	}
	for _, tc := range tests {
		if got := tc.p.ApplyCmd(); got != tc.apply {
			t.Errorf("%+v.ApplyCmd() = %q, want %q", tc.p, got, tc.apply)
		}
		if got := tc.p.PlanCmd(); got != tc.plan {
			t.Errorf("%+v.PlanCmd() = %q, want %q", tc.p, got, tc.plan)
		}
	}
}

// queuedLock returns a copy of l queued at pos.
func queuedLock(l *LockInfo, pos int) *LockInfo {
	q := *l
	q.QueuePosition = pos
	return &q
}
