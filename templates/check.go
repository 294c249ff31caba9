package templates

import "fmt"

// CheckRun renders a check run's output for one project's plan, policy
// check or apply (command "plan", "policy_check" or "apply"): a one-line
// title, a short summary, and as text the project's whole comment, so the
// Checks tab shows what the pull request comment shows.
func CheckRun(command string, p Project, jobURL string) (title, summary, text string, err error) {
	render := Plan
	if command == "apply" {
		render = Apply
	}
	text, err = render(Comment{Projects: []Project{p}, JobURL: jobURL})
	if err != nil {
		return "", "", "", err
	}
	where := fmt.Sprintf("%s · workspace %s", codeSpan(p.Label()), codeSpan(p.WorkspaceName()))
	switch {
	case command == "policy_check" && p.PolicyFailed():
		title = "A policy failed"
	case command == "policy_check":
		title = "Policies passed"
	case p.Status == StatusError:
		title = fmt.Sprintf("%s failed", command)
		if p.Step != "" {
			title += " at " + p.Step
		}
	case p.Status == StatusRefused || p.Status == StatusLocked:
		title = fmt.Sprintf("%s not run", command)
	case command == "apply":
		title = applySummary(p)
	default:
		title = planSummary(p)
	}
	summary = fmt.Sprintf("%s: %s", where, title)
	if p.Reason != "" {
		summary += "\n\n" + p.Reason
	}
	return title, summary, text, nil
}
