<#
.SYNOPSIS
  Install sepm-cert-reconciler as a Windows service (SEPM shops run Windows).

.DESCRIPTION
  Windows services need a service wrapper for a console program; this recipe uses WinSW (MIT, a single exe:
  https://github.com/winsw/winsw). Steps:
    1. Install Python 3.11 for all users; then:  py -3.11 -m venv C:\sepm-reconciler\venv
       C:\sepm-reconciler\venv\Scripts\pip install sepm-cert-reconciler   (or the wheel built from this repository)
    2. Put WinSW-x64.exe at C:\sepm-reconciler\sepm-reconciler.exe and this folder's sepm-reconciler.xml beside it.
    3. Create a dedicated local account (or a group managed service account, DOMAIN\name$) with "Log on as a
       service", no interactive logon; grant it modify rights on C:\sepm-reconciler\state only. Store the SEPM
       credentials in files with ACLs for that account, referenced as {file: PATH} in the specs (or as machine
       environment variables readable by that account only).
    4. Run this script as Administrator, in Windows PowerShell 5.1 (powershell.exe, on every Windows Server) or
       PowerShell 7. It asks for the account's password (Get-Credential) unless you pass -ServiceAccount.
  No secret ever appears on a command line: the service is installed without an account, then the account and its
  password are set through WMI (Win32_Service.Change) inside this PowerShell process. A gMSA needs no password.
  NOT tested here (no Windows on the development machines): see docs/deploy.md.
#>
[CmdletBinding()]
param(
  [string]$Root = 'C:\sepm-reconciler',
  [System.Management.Automation.PSCredential]$ServiceAccount = (Get-Credential -Message 'The account the service runs as'),
  [string]$ServiceName = 'sepm-reconciler'
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
New-Item -ItemType Directory -Force -Path (Join-Path $Root 'state'), (Join-Path $Root 'logs') | Out-Null
& icacls (Join-Path $Root 'state') /inheritance:r /grant:r "$($ServiceAccount.UserName):(OI)(CI)M" 'Administrators:(OI)(CI)F' | Out-Null
$exe = Join-Path $Root 'sepm-reconciler.exe'
if (-not (Test-Path $exe)) { throw "put WinSW at $exe first (see the description of this script)" }
& $exe install                     # as LocalSystem for now: no credential on this (or any) command line
$service = Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'"
if (-not $service) { throw "WinSW did not register the service $ServiceName" }
$account = @{ StartName = $ServiceAccount.UserName }
if (-not $ServiceAccount.UserName.EndsWith('$')) {   # a gMSA has no password to give
  $account.StartPassword = $ServiceAccount.GetNetworkCredential().Password
}
$changed = Invoke-CimMethod -InputObject $service -MethodName Change -Arguments $account
if ($changed.ReturnValue -ne 0) {
  throw "setting the service account failed (Win32_Service.Change returned $($changed.ReturnValue)): does it have 'Log on as a service'?"
}
& $exe start
Write-Host "installed; status page: http://127.0.0.1:9370/"
