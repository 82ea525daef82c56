// Command argocd runs the three Argo CD components the local stack needs, named by the first
// argument (argocd-server, argocd-repo-server, argocd-application-controller). Linking only
// these, not Argo CD's whole multi-call binary (CLI, Dex, notifications, ApplicationSets, ...),
// keeps the build smaller.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	appcontroller "github.com/argoproj/argo-cd/v2/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v2/cmd/argocd-repo-server/commands"
	apiserver "github.com/argoproj/argo-cd/v2/cmd/argocd-server/commands"
	"github.com/argoproj/argo-cd/v2/cmd/util"
)

var components = map[string]func() *cobra.Command{
	"argocd-server":                 apiserver.NewCommand,
	"argocd-repo-server":            reposerver.NewCommand,
	"argocd-application-controller": appcontroller.NewCommand,
}

func main() {
	if len(os.Args) < 2 || components[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: argocd argocd-server|argocd-repo-server|argocd-application-controller [flags]")
		os.Exit(2)
	}
	command := components[os.Args[1]]()
	command.SetArgs(os.Args[2:])
	util.SetAutoMaxProcs(false)
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
