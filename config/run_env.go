package config

import (
	"path/filepath"
	"strconv"
	"strings"
)

// RunEnvInput is what RunEnv needs to build the environment of a hook or run step.
// Every field is plain data; fields left empty produce empty variables.
type RunEnvInput struct {
	// Project is the project the step runs for; leave it zero for workflow hooks,
	// which run in the repository root.
	Project Project
	// RepoRoot is the absolute path of the working copy.
	RepoRoot string
	// Command is the comment command being run ("plan", "apply", ...), COMMAND_NAME.
	Command string

	Pull       int
	PullURL    string
	PullAuthor string
	HeadSHA    string
	HeadBranch string
	BaseBranch string

	BaseRepoOwner string
	BaseRepoName  string
	HeadRepoOwner string
	HeadRepoName  string

	// User is who commented the command (Atoll's own login for autoplan).
	User string
	// CommentArgs are the extra arguments after -- in the comment.
	CommentArgs []string

	// PlanFile, ShowFile and PolicyCheckFile are absolute paths for the project.
	PlanFile        string
	ShowFile        string
	PolicyCheckFile string
	// TerraformVersion is the version actually used.
	TerraformVersion string
	// OutputStatusFile is where a hook may write "success" or "failure".
	OutputStatusFile string
	// Approved and Mergeable are the PR's state when known.
	Approved  *bool
	Mergeable *bool
}

// RunEnv returns the Atlantis-style environment for a hook or run step: WORKSPACE,
// DIR, REPO_REL_DIR, PROJECT_NAME, PLANFILE, SHOWFILE, POLICYCHECKFILE,
// ATLANTIS_TERRAFORM_VERSION, BASE_REPO_OWNER, BASE_REPO_NAME, HEAD_REPO_OWNER,
// HEAD_REPO_NAME, HEAD_BRANCH_NAME, BASE_BRANCH_NAME, HEAD_COMMIT, PULL_NUM,
// PULL_URL, PULL_AUTHOR, USER_NAME, COMMENT_ARGS, COMMAND_NAME, OUTPUT_STATUS_FILE,
// ATLANTIS_PR_APPROVED and ATLANTIS_PR_MERGEABLE. With a zero Project (hooks) DIR
// is the repo root and the project variables are left out.
func RunEnv(in RunEnvInput) map[string]string {
	env := map[string]string{
		"DIR":              in.RepoRoot,
		"BASE_REPO_OWNER":  in.BaseRepoOwner,
		"BASE_REPO_NAME":   in.BaseRepoName,
		"HEAD_REPO_OWNER":  in.HeadRepoOwner,
		"HEAD_REPO_NAME":   in.HeadRepoName,
		"HEAD_BRANCH_NAME": in.HeadBranch,
		"BASE_BRANCH_NAME": in.BaseBranch,
		"HEAD_COMMIT":      in.HeadSHA,
		"PULL_NUM":         strconv.Itoa(in.Pull),
		"PULL_URL":         in.PullURL,
		"PULL_AUTHOR":      in.PullAuthor,
		"USER_NAME":        in.User,
		"COMMENT_ARGS":     EscapeCommentArgs(in.CommentArgs),
	}
	if in.Command != "" {
		env["COMMAND_NAME"] = in.Command
	}
	if in.OutputStatusFile != "" {
		env["OUTPUT_STATUS_FILE"] = in.OutputStatusFile
	}
	if in.Approved != nil {
		env["ATLANTIS_PR_APPROVED"] = strconv.FormatBool(*in.Approved)
	}
	if in.Mergeable != nil {
		env["ATLANTIS_PR_MERGEABLE"] = strconv.FormatBool(*in.Mergeable)
	}
	if in.Project.Dir == "" {
		return env
	}
	ws := in.Project.Workspace
	if ws == "" {
		ws = "default"
	}
	env["DIR"] = filepath.Join(in.RepoRoot, filepath.FromSlash(in.Project.Dir))
	env["REPO_REL_DIR"] = in.Project.Dir
	env["WORKSPACE"] = ws
	env["PROJECT_NAME"] = in.Project.Name
	env["PLANFILE"] = in.PlanFile
	env["SHOWFILE"] = in.ShowFile
	if in.PolicyCheckFile != "" {
		env["POLICYCHECKFILE"] = in.PolicyCheckFile
	}
	v := in.TerraformVersion
	if v == "" {
		// A required_version constraint is no version: as before Atoll
		// resolved them, it leaves the variable empty.
		v = exactVersion(in.Project.TerraformVersion)
	}
	env["ATLANTIS_TERRAFORM_VERSION"] = v
	return env
}

// EscapeCommentArgs renders comment arguments as Atlantis does: every character
// escaped with a backslash, arguments separated by commas, so `-- -var a=b` gives
// `\-\v\a\r,\a\=\b`.
func EscapeCommentArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		var b strings.Builder
		for _, r := range a {
			b.WriteByte('\\')
			b.WriteRune(r)
		}
		out[i] = b.String()
	}
	return strings.Join(out, ",")
}
