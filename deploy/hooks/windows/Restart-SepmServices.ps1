<#
.SYNOPSIS
  Restart the SEPM services (semsrv, semwebsrv, semapisrv) on the manager over WinRM and wait until they run.
  Useful on its own after a manual certificate update in the console, or as a step-4 hook when the certificate files
  are installed by other tooling. NOT tested against a real SEPM here: see docs/deploy.md.
#>
[CmdletBinding()]
param(
  [string]$ComputerName = ([Uri]$env:SEPM_RECONCILER_API_URL).Host,
  [System.Management.Automation.PSCredential]$Credential,
  [int]$ServiceTimeoutSeconds = 600
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$sessionArgs = @{ ComputerName = $ComputerName }
if ($Credential) { $sessionArgs.Credential = $Credential }
Invoke-Command @sessionArgs -ArgumentList $ServiceTimeoutSeconds {
  param($timeout)
  foreach ($svc in 'semsrv', 'semwebsrv', 'semapisrv') {
    if (-not (Get-Service -Name $svc -ErrorAction SilentlyContinue)) { Write-Host "$svc not installed: skipped"; continue }
    Restart-Service -Name $svc -Force
    (Get-Service -Name $svc).WaitForStatus('Running', [TimeSpan]::FromSeconds($timeout))
    Write-Host "$svc running"
  }
}
