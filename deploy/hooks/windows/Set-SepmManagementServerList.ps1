<#
.SYNOPSIS
  Steps 2a and 5b of KB 187099 (assign a management server list to every group and location) — a SKELETON.

.DESCRIPTION
  SEPM has no REST endpoint for management server lists (create, copy, edit and assign are console-only; the
  vendor Swagger has none, and /policies/summary/msl answers 400), so there is nothing supported to automate here
  today. The documented default of spec.rollout.actions.switchToHttpList and restoreOriginalList is therefore
  `manual`: `sepm-reconciler status` shows the console steps, and on a manager whose API does not show a group's list
  the operator confirms with `sepm-reconciler approve SERVER --step 2` (2a) or `--step 5` (5b).

  This script exists so that an organisation that HAS a supported way (a vendor-approved tool, an SEPM version that
  adds an endpoint) can put it in Invoke-ListAssignment below and use the script as the hook:

      switchToHttpList:    {command: [powershell.exe, -NoProfile, -NonInteractive, -ExecutionPolicy, Bypass, -File, hooks/Set-SepmManagementServerList.ps1]}
      restoreOriginalList: {command: [powershell.exe, -NoProfile, -NonInteractive, -ExecutionPolicy, Bypass, -File, hooks/Set-SepmManagementServerList.ps1]}

  Until Invoke-ListAssignment is filled in, it prints the console steps and exits 3, so a hook configured by mistake
  fails loudly (the rollout retries, then stalls with the remedy) instead of pretending. Whatever it exits with, the
  reconciler completes the step only on what it observes. NOT tested against a real SEPM here: see docs/deploy.md.

  Environment (set by the reconciler): SEPM_RECONCILER_LIST (the list to assign: managementServerList.http in 2a,
  .original in 5b), SEPM_RECONCILER_STEP_NAME (switch_to_http_list or restore_original_list),
  SEPM_RECONCILER_API_URL, SEPM_RECONCILER_SERVER.
#>
[CmdletBinding()]
param(
  [string]$ListName = $env:SEPM_RECONCILER_LIST,
  [string]$StepName = $env:SEPM_RECONCILER_STEP_NAME,
  [string]$ComputerName = ([Uri]$env:SEPM_RECONCILER_API_URL).Host
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if (-not $ListName) { Write-Error 'SEPM_RECONCILER_LIST is not set: run this as the hook of step 2a or 5b'; exit 2 }

function Invoke-ListAssignment([string]$Name, [string]$Server) {
  # Put your organisation's supported way of assigning management server list $Name to all groups and locations
  # of $Server here, and return $true once it is done. There is no supported one in SEPM today.
  return $false
}

if (Invoke-ListAssignment -Name $ListName -Server $ComputerName) {
  Write-Host "management server list '$ListName' assigned to every group and location of $ComputerName"
  exit 0
}

$copy = ''
if ($StepName -eq 'switch_to_http_list') {
  $copy = "if '$ListName' does not exist, copy the clients' list (Copy, Paste), rename the copy '$ListName' and " +
    "edit it: Use HTTP protocol, each management server's HTTP port (default 8014); then "
}
Write-Host ("No supported API assigns management server lists: in the SEPM console of ${ComputerName}, Policies > " +
  "Policy Components > Management Server Lists: ${copy}right-click '$ListName' > Assign, to all groups and " +
  "locations. Use `manual` for this step in the spec (the documented default) and confirm with " +
  "sepm-reconciler approve SERVER --step N where the manager does not show lists.")
exit 3
