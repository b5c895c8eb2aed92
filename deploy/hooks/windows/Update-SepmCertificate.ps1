<#
.SYNOPSIS
  Step 4 hook for a real SEPM: install the new server certificate and restart the SEPM services over WinRM,
  then check what every port presents.

.DESCRIPTION
  Called by sepm-reconciler with the documented environment (never with secrets on the command line):
    SEPM_RECONCILER_SERVER, SEPM_RECONCILER_STEP, SEPM_RECONCILER_ROLLOUT_ID, SEPM_RECONCILER_API_URL,
    SEPM_RECONCILER_DESIRED_FINGERPRINT, SEPM_RECONCILER_KEYSTORE_FILE, SEPM_RECONCILER_KEYSTORE_PASSWORD
  Spec:
    actions:
      updateCertificate: {command: [powershell.exe, -NoProfile, -NonInteractive, -ExecutionPolicy, Bypass, -File, hooks/Update-SepmCertificate.ps1], timeout: 30m}
    (hooks/ beside the spec file: hook paths start from the spec file's directory). Windows PowerShell 5.1
    (powershell.exe, on every Windows Server) or PowerShell 7 (pwsh, when installed).

  What it does, in order (each step idempotent, so a retry after a crash is safe):
    1. checks the keystore locally: it opens with the password and its certificate's SHA-256 is the desired one;
    2. opens a WinRM session to the SEPM host (host of SEPM_RECONCILER_API_URL, or -ComputerName);
    3. backs up the current certificate files once per rollout (C:\ProgramData\sepm-reconciler\backup\<rollout id>);
    4. runs the site's install command (-InstallScript, a script block on the SEPM host that receives the staged
       keystore path and password). SEPM's supported path is the console's Manage Server Certificate wizard;
       sites that automate it do so with their own tooling — plug it in here;
    5. restarts semsrv, semwebsrv and semapisrv (when installed: SEPM 14+) with Restart-SepmServices.ps1 (beside
       this script), waiting for each to be Running;
    6. verifies each port (443, 8443, 8446) presents the desired fingerprint; exit 0 only if all do.
  The reconciler does not trust this script's exit status to finish step 4: it observes the ports itself.

.NOTES
  NOT tested against a real SEPM here (no SEPM and no PowerShell on the development machines): see docs/deploy.md.
#>
[CmdletBinding()]
param(
  [string]$ComputerName = ([Uri]$env:SEPM_RECONCILER_API_URL).Host,
  [System.Management.Automation.PSCredential]$Credential,
  [string]$SepmInstallDir = 'C:\Program Files (x86)\Symantec\Symantec Endpoint Protection Manager',
  [int[]]$Ports = @(443, 8443, 8446),
  [scriptblock]$InstallScript,
  [int]$ServiceTimeoutSeconds = 600
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Get-Sha256Fingerprint([byte[]]$Der) {
  $sha = [System.Security.Cryptography.SHA256]::Create()
  'sha256:' + (($sha.ComputeHash($Der) | ForEach-Object { $_.ToString('x2') }) -join '')
}

function Get-ServedFingerprint([string]$HostName, [int]$Port) {
  $tcp = [System.Net.Sockets.TcpClient]::new()
  try {
    $tcp.Connect($HostName, $Port)
    # Accept any certificate: we must *see* what is served, trusted or not.
    $ssl = [System.Net.Security.SslStream]::new($tcp.GetStream(), $false, { $true })
    $ssl.AuthenticateAsClient($HostName)
    Get-Sha256Fingerprint $ssl.RemoteCertificate.GetRawCertData()
  } finally { $tcp.Dispose() }
}

foreach ($name in 'SEPM_RECONCILER_DESIRED_FINGERPRINT', 'SEPM_RECONCILER_KEYSTORE_FILE', 'SEPM_RECONCILER_ROLLOUT_ID') {
  if (-not [Environment]::GetEnvironmentVariable($name)) { throw "$name is not set: run this from sepm-reconciler" }
}
$desired = $env:SEPM_RECONCILER_DESIRED_FINGERPRINT
$keystore = $env:SEPM_RECONCILER_KEYSTORE_FILE
$password = $env:SEPM_RECONCILER_KEYSTORE_PASSWORD

# 1. The keystore is what the spec says, before anything touches the server.
$flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet
$cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($keystore, $password, $flags)
if (-not $cert.HasPrivateKey) { throw "keystore $keystore has no private key" }
if ($cert.PublicKey.Oid.FriendlyName -ne 'RSA') { throw "keystore $keystore holds a non-RSA key: SEPM requires RSA" }
$fp = Get-Sha256Fingerprint $cert.RawData
if ($fp -ne $desired) { throw "keystore $keystore holds $fp, the spec wants $desired" }
Write-Host "keystore checked: $fp"

# 2..4 on the SEPM host.
$sessionArgs = @{ ComputerName = $ComputerName }
if ($Credential) { $sessionArgs.Credential = $Credential }
$session = New-PSSession @sessionArgs
try {
  $remoteDir = "C:\ProgramData\sepm-reconciler\staged\$($env:SEPM_RECONCILER_ROLLOUT_ID)"
  Invoke-Command -Session $session { param($d) New-Item -ItemType Directory -Force -Path $d | Out-Null } -ArgumentList $remoteDir
  $staged = Join-Path $remoteDir (Split-Path $keystore -Leaf)
  Copy-Item -ToSession $session -Path $keystore -Destination $staged -Force

  Invoke-Command -Session $session -ArgumentList $SepmInstallDir, $env:SEPM_RECONCILER_ROLLOUT_ID {
    param($dir, $rollout)
    $backup = "C:\ProgramData\sepm-reconciler\backup\$rollout"
    if (-not (Test-Path $backup)) {
      New-Item -ItemType Directory -Force -Path $backup | Out-Null
      Copy-Item (Join-Path $dir 'tomcat\etc\keystore.jks') $backup
      Copy-Item (Join-Path $dir 'apache\conf\ssl\server.crt') $backup
      Copy-Item (Join-Path $dir 'apache\conf\ssl\server.key') $backup
    }
  }

  if (-not $InstallScript) {
    throw ("no -InstallScript given: the keystore is staged at ${ComputerName}:$staged. Install it with the console " +
           "(Admin > Servers > server > Manage Server Certificate > Update), or pass your site's install script block.")
  }
  Invoke-Command -Session $session -ScriptBlock $InstallScript -ArgumentList $staged, $password
} finally { Remove-PSSession $session }

# 5. The services pick the new certificate up only when restarted (the script beside this one).
& (Join-Path $PSScriptRoot 'Restart-SepmServices.ps1') -ComputerName $ComputerName -Credential $Credential `
  -ServiceTimeoutSeconds $ServiceTimeoutSeconds

# 6. What each port presents now.
$failed = $false
foreach ($port in $Ports) {
  try { $served = Get-ServedFingerprint $ComputerName $port } catch { $served = "error: $($_.Exception.Message)" }
  $ok = $served -eq $desired
  if (-not $ok) { $failed = $true }
  Write-Host ("port {0}: {1} {2}" -f $port, $served, $(if ($ok) { 'OK' } else { 'MISMATCH' }))
}
if ($failed) { exit 1 }
exit 0
