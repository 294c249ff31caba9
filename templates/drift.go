package templates

import (
	"fmt"
	"time"
)

// DriftIssue is the data of a drift issue's body: one project (directory and
// workspace) of a repository's default branch.
type DriftIssue struct {
	// Repo is "owner/name"; Project the project's name or directory.
	Repo, Project, Workspace string
	// Branch and Commit (short SHA) are what was planned.
	Branch, Commit string
	// Since is when the drift was first seen; Checked the latest check.
	Since, Checked time.Time
	// Drift lists the resources changed outside Terraform.
	Drift []DriftResource
	// Pending lists changes that are in Git but not applied.
	Pending []Resource
	// InSync is set when the project is back in sync (the issue then closes).
	InSync bool
	// PageURL links to Atoll's drift page. Optional.
	PageURL string
	// Marker is a hidden line that lets Atoll find the project again from the
	// issue (for remediation); written verbatim as an HTML comment.
	Marker string
}

// DriftResource is one resource changed outside Terraform.
type DriftResource struct {
	Address string
	// Action is what happened outside Terraform: "update" (changed) or
	// "delete" (removed).
	Action string
	// Attrs are the changed attributes.
	Attrs []DriftAttr
}

// DriftAttr is one attribute's value in Git (the last applied state) and in reality.
type DriftAttr struct {
	Name, Git, Reality string
}

// DriftTitle is the title of a project's drift issue, for example
// "Drift: acme/infra network (default)".
func DriftTitle(repo, project, workspace string) string {
	return fmt.Sprintf("Drift: %s %s (%s)", repo, project, workspace)
}

// Drift renders a drift issue's body.
func Drift(d DriftIssue) (string, error) {
	return render("drift", d)
}
