package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// timeout: is an Atoll extension: a Go duration on any step written as a
// mapping.
func TestParseStepTimeout(t *testing.T) {
	t.Parallel()
	const head = "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n"
	timed := func(s Step, d time.Duration) Step { s.Timeout = d; return s }
	tests := []struct {
		name string
		step string // one step, indented under steps:
		want Step
	}{
		{"init with extra_args", "      - init: {extra_args: [-upgrade], timeout: 10m}\n",
			Step{Kind: StepInit, ExtraArgs: []string{"-upgrade"}, Timeout: 10 * time.Minute}},
		{"plan with timeout only", "      - plan:\n          timeout: 1h30m\n", Step{Kind: StepPlan, Timeout: 90 * time.Minute}},
		{"run mapping", "      - run: {command: make, timeout: 5m}\n", timed(runStep("make"), 5*time.Minute)},
		{"run with output and shell", "      - run: {command: make, output: hide, shell: bash, shell_args: [-c], timeout: 90s}\n",
			Step{Kind: StepRun, Run: "make", Output: "hide", Shell: "bash", ShellArgs: []string{"-c"}, Timeout: 90 * time.Second}},
		{"env command", "      - env: {name: A, command: date, timeout: 30s}\n",
			Step{Kind: StepEnv, EnvName: "A", Run: "date", Shell: "sh", ShellArgs: []string{"-c"}, Timeout: 30 * time.Second}},
		{"multienv", "      - multienv: {command: ./env.sh, timeout: 1s}\n",
			Step{Kind: StepMultiEnv, Run: "./env.sh", Output: "show", Shell: "sh", ShellArgs: []string{"-c"}, Timeout: time.Second}},
		{"no timeout", "      - run: make\n", runStep("make")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, err := ParseRepoConfig("atoll.yaml", []byte(head+tt.step))
			if err != nil {
				t.Fatalf("ParseRepoConfig: %v", err)
			}
			if diff := cmp.Diff([]Step{tt.want}, rc.Workflows["w"].Plan); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStepTimeoutErrors(t *testing.T) {
	t.Parallel()
	const head = "version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n"
	tests := []struct {
		name string
		step string
		want string
	}{
		{"no unit", "      - run: {command: make, timeout: 60}\n",
			`atoll.yaml:6:39: workflows.w.plan.steps[0].run.timeout: "60" is not a duration: use a number and a unit (s, m, h), such as 90s, 30m or 1h30m`},
		{"words", "      - init: {timeout: soon}\n",
			`atoll.yaml:6:25: workflows.w.plan.steps[0].init.timeout: "soon" is not a duration: use a number and a unit (s, m, h), such as 90s, 30m or 1h30m`},
		{"negative", "      - plan: {timeout: -5m}\n",
			`atoll.yaml:6:25: workflows.w.plan.steps[0].plan.timeout: "-5m" is too short: a step timeout must be at least 1s`},
		{"too short", "      - multienv: {command: x, timeout: 500ms}\n",
			`atoll.yaml:6:41: workflows.w.plan.steps[0].multienv.timeout: "500ms" is too short: a step timeout must be at least 1s`},
		{"empty", "      - run:\n          command: make\n          timeout:\n",
			"atoll.yaml:8:19: workflows.w.plan.steps[0].run.timeout: must be a duration such as 30m or 1h30m"},
		{"list", "      - apply: {timeout: [5m]}\n",
			"atoll.yaml:6:26: workflows.w.plan.steps[0].apply.timeout: must be a string"},
		{"env with a value", "      - env: {name: A, value: x, timeout: 5m}\n",
			"atoll.yaml:6:34: workflows.w.plan.steps[0].env.timeout: only applies with command, not value"},
		{"misspelt", "      - run: {command: make, timout: 5m}\n",
			`atoll.yaml:6:30: workflows.w.plan.steps[0].run.timout: unknown key (did you mean "timeout"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, err := ParseRepoConfig("atoll.yaml", []byte(head+tt.step))
			if err == nil {
				t.Fatalf("ParseRepoConfig = %+v, want error %q", rc, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// The server's repos.yaml workflows take the same key.
func TestParseServerStepTimeout(t *testing.T) {
	t.Parallel()
	sc, err := ParseServerConfig("repos.yaml", []byte("repos:\n- id: /.*/\nworkflows:\n  slow:\n    apply:\n      steps:\n      - apply: {timeout: 2h}\n"))
	if err != nil {
		t.Fatalf("ParseServerConfig: %v", err)
	}
	if diff := cmp.Diff([]Step{{Kind: StepApply, Timeout: 2 * time.Hour}}, sc.Workflows["slow"].Apply); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
