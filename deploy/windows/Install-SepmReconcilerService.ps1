<#
.SYNOPSIS
  Install sepm-cert-reconciler as a Windows service (SEPM shops run Windows).

.DESCRIPTION
  Windows services need a service wrapper for a console program; this recipe uses WinSW (MIT, a single exe:
  https://github.com/winsw/winsw). Steps:
    1. Install Python 3.11 for all users; then:  py -3.11 -m venv C:\sepm-reconciler\venv
       C:\sepm-reconciler\venv\Scripts\pip install sepm-cert-reconciler   (or the wheel built from this repository)
    2. Put WinSW-x64.exe at C:\sepm-reconciler\sepm-reconciler.exe and this folder's sepm-reconciler.xml beside it.
    3. Create a dedicated local account with "Log on as a service", no interactive logon; grant it modify rights on
       C:\sepm-reconciler\state only. Store the SEPM credentials as machine environment variables readable by that
       account only, or (better) in files with ACLs referenced as {file: PATH} in the specs.
    4. Run this script as Administrator.
  NOT tested here (no Windows on the development machines): see docs/deploy.md.
#>
[CmdletBinding()]
param(
  [string]$Root = 'C:\sepm-reconciler',
  [Parameter(Mandatory)][System.Management.Automation.PSCredential]$ServiceAccount
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
New-Item -ItemType Directory -Force -Path (Join-Path $Root 'state'), (Join-Path $Root 'logs') | Out-Null
& icacls (Join-Path $Root 'state') /inheritance:r /grant:r "$($ServiceAccount.UserName):(OI)(CI)M" 'Administrators:(OI)(CI)F' | Out-Null
$exe = Join-Path $Root 'sepm-reconciler.exe'
if (-not (Test-Path $exe)) { throw "put WinSW at $exe first (see the description of this script)" }
& $exe install --username $ServiceAccount.UserName --password $ServiceAccount.GetNetworkCredential().Password
& $exe start
Write-Host "installed; status page: http://127.0.0.1:9370/"
