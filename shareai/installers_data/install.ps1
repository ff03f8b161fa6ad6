<#
.SYNOPSIS
    shareai node agent installer for Windows.

.DESCRIPTION
    Checks for Python 3.11+, installs shareai (agent extra) into its own virtualenv, enrolls the
    machine with the coordinator, and registers the agent to start with Windows: a scheduled task
    at start-up running as SYSTEM and restarted on failure (default), or, with -AtLogon, a task in
    the owner's session (so idle-time mode sees their activity). Running it again upgrades in place
    and keeps the enrollment. -Uninstall removes the task and the virtualenv.

    -Tls: the coordinator serves gRPC over TLS (`shareai-coordinator serve --tls-cert/--tls-key`);
    -TlsCa PATH adds a CA bundle for a private CA (and implies -Tls). The choice is kept in the data
    dir (install-tls, and the CA copied to tls-ca.pem), so a re-run without them keeps it and the
    task runs `shareai-agent run --tls [--tls-ca ...]`; -NoTls drops it. A coordinator that serves
    TLS makes -Tls the default of the script it serves.

    Served by the coordinator at GET /install.ps1 with its address filled in:
        & ([scriptblock]::Create((irm http://COORDINATOR:8080/install.ps1))) -Token TOKEN
    or from a checkout (elevated PowerShell):
        .\install.ps1 -Token TOKEN -Coordinator HOST:50051

.EXAMPLE
    .\install.ps1 -Uninstall -Purge
#>
[CmdletBinding()]
param(
    [string]$Token = "",
    [string]$Coordinator = "",
    [string]$Name = "",
    [switch]$Tls,
    [string]$TlsCa = "",
    [switch]$NoTls,
    [string]$Prefix = "$env:ProgramData\shareai\venv",
    [string]$DataDir = "$env:ProgramData\shareai\data",
    [string]$Source = "shareai[agent]",
    [string]$Python = "",
    [string]$PipArgs = "",
    [string]$Model = "",
    [string]$ModelName = "",
    [string]$ChatFormat = "",
    [string]$Config = "",
    [switch]$AtLogon,
    [switch]$NoService,
    [switch]$Uninstall,
    [switch]$Purge
)

$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

# Filled in by the coordinator that serves this script (GET /install.ps1); empty in the repository.
$ShareaiCoordinator = ""
# Set to $true by a coordinator that serves gRPC over TLS; $false in the repository.
$ShareaiTls = $false

$TaskName = "shareai-agent"
$Agent = Join-Path $Prefix "Scripts\shareai-agent.exe"

function Say([string]$Message) { Write-Host "shareai: $Message" }
function Fail([string]$Message) { Write-Error "shareai: error: $Message"; exit 1 }

function Test-Admin {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    return ([Security.Principal.WindowsPrincipal]$identity).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Find-Python {
    if ($Python) { return $Python }
    $candidates = @()
    if (Get-Command py -ErrorAction SilentlyContinue) { $candidates += , @("py", "-3") }
    if (Get-Command python -ErrorAction SilentlyContinue) { $candidates += , @("python") }
    foreach ($c in $candidates) {
        $exe = $c[0]
        $rest = @($c | Select-Object -Skip 1)
        $path = & $exe @rest -c "import sys; print(sys.executable) if sys.version_info >= (3, 11) else None" 2>$null
        if ($LASTEXITCODE -eq 0 -and $path) { return $path.Trim() }
    }
    return $null
}

function Get-PipSpec {
    if ($Source.Contains("[")) { return $Source }
    if ((Test-Path $Source -PathType Container) -or $Source.EndsWith(".whl")) {
        return "$((Resolve-Path $Source).Path)[agent]"
    }
    return $Source
}

function Install-Venv {
    $py = Find-Python
    if (-not $py) { Fail "Python 3.11 or newer is required: winget install Python.Python.3.12 (or pass -Python)" }
    if (-not (Test-Path (Join-Path $Prefix "Scripts\python.exe"))) {
        & $py -m venv $Prefix
        if ($LASTEXITCODE -ne 0) { Fail "cannot create a virtualenv with $py" }
        Say "created virtualenv $Prefix"
    }
    $spec = Get-PipSpec
    Say "installing $spec into $Prefix"
    $extra = @()
    if ($PipArgs) { $extra = $PipArgs -split '\s+' }
    & (Join-Path $Prefix "Scripts\python.exe") -m pip install --disable-pip-version-check --upgrade @extra $spec
    if ($LASTEXITCODE -ne 0) { Fail "pip install failed (see above)" }
    if (-not (Test-Path $Agent)) { Fail "$Agent is missing after the install" }
}

function Invoke-Enroll {
    if (-not $Token) {
        if (Test-Path (Join-Path $DataDir "identity.json")) {
            Say "no -Token: keeping the existing enrollment in $DataDir"
        } else {
            Say "no -Token: not enrolled yet; later run: & '$Agent' enroll --token TOKEN --coordinator HOST:50051 --data-dir '$DataDir'"
        }
        return
    }
    if (-not $script:ShareaiCoordinator) { Fail "-Coordinator HOST:PORT is needed with -Token" }
    Say "enrolling with $script:ShareaiCoordinator"
    $enrollArgs = @("enroll", "--token", $Token, "--coordinator", $script:ShareaiCoordinator, "--data-dir", $DataDir)
    if ($Name) { $enrollArgs += @("--name", $Name) }
    if ($script:UseTls) {
        $enrollArgs += "--tls"
        # The CA given now, else the copy kept by an earlier run.
        $ca = if ($TlsCa) { $TlsCa } else { $script:RunTlsCa }
        if ($ca) { $enrollArgs += @("--tls-ca", $ca) }
    }
    & $Agent @enrollArgs
    switch ($LASTEXITCODE) {
        0 { Say "enrolled" }
        2 { Fail "enrollment refused (exit 2): the token is wrong, expired or used up" }
        default { Fail "enrollment failed (exit $LASTEXITCODE): is the coordinator reachable at $script:ShareaiCoordinator?" }
    }
}

function Get-RunArguments {
    $words = @("run", "--data-dir", $DataDir)
    if ($Config) { $words += @("--config", $Config) }
    if ($Model) { $words += @("--model", $Model) }
    if ($ModelName) { $words += @("--model-name", $ModelName) }
    if ($ChatFormat) { $words += @("--chat-format", $ChatFormat) }
    if ($script:UseTls) { $words += "--tls" }
    if ($script:RunTlsCa) { $words += @("--tls-ca", $script:RunTlsCa) }
    return ($words | ForEach-Object { '"' + ($_ -replace '"', '\"') + '"' }) -join " "
}

# Keep the TLS choice (and a copy of the CA) with the enrollment, for the task and later runs.
function Save-TlsChoice {
    if (-not $script:UseTls) {
        Remove-Item -Force -ErrorAction SilentlyContinue $TlsState, $TlsCaCopy
        return
    }
    if ($TlsCa -and ($TlsCa -ne $TlsCaCopy)) { Copy-Item -Force $TlsCa $TlsCaCopy }
    Set-Content -Path $TlsState -Value "# Written by the shareai installer: the agent reaches its coordinator over TLS."
}

function Register-AgentTask {
    $action = New-ScheduledTaskAction -Execute $Agent -Argument (Get-RunArguments) -WorkingDirectory $DataDir
    # No time limit, restart every minute after a failure, start even on battery.
    $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 `
        -RestartInterval (New-TimeSpan -Minutes 1) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
        -StartWhenAvailable -MultipleInstances IgnoreNew
    if ($AtLogon) {
        $trigger = New-ScheduledTaskTrigger -AtLogOn -User "$env:USERDOMAIN\$env:USERNAME"
        $principal = New-ScheduledTaskPrincipal -UserId "$env:USERDOMAIN\$env:USERNAME" -LogonType Interactive -RunLevel Limited
    } else {
        $trigger = New-ScheduledTaskTrigger -AtStartup
        $principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
    }
    if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
        Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
        Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
    }
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Settings $settings `
        -Principal $principal -Description "shareai node agent" | Out-Null
    Start-ScheduledTask -TaskName $TaskName
    Say "scheduled task '$TaskName' registered and started"
}

function Invoke-Uninstall {
    if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
        Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
        Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
        Say "removed scheduled task '$TaskName'"
    }
    if (Test-Path $Prefix) {
        if (-not (Test-Path (Join-Path $Prefix "pyvenv.cfg"))) { Fail "$Prefix is not a virtualenv; refusing to delete it" }
        Remove-Item -Recurse -Force $Prefix
        Say "removed $Prefix"
    }
    if ($Purge) {
        if (Test-Path $DataDir) { Remove-Item -Recurse -Force $DataDir }
        Say "removed $DataDir"
    } else {
        Say "kept $DataDir (the node's identity); -Purge removes it"
    }
}

if ($Coordinator) { $ShareaiCoordinator = $Coordinator }
$needsAdmin = -not $AtLogon -and -not $NoService
if ($needsAdmin -and -not (Test-Admin)) { Fail "run from an elevated PowerShell (or pass -AtLogon / -NoService)" }

if ($Uninstall) { Invoke-Uninstall; exit 0 }

# TLS: an explicit switch wins; otherwise the choice kept in the data dir, or the serving coordinator's.
if ($NoTls -and ($Tls -or $TlsCa)) { Fail "-NoTls goes alone, without -Tls or -TlsCa" }
if ($TlsCa) {
    if (-not (Test-Path $TlsCa -PathType Leaf)) { Fail "-TlsCa ${TlsCa}: no such file" }
    $TlsCa = (Resolve-Path $TlsCa).Path
}
$TlsState = Join-Path $DataDir "install-tls"
$TlsCaCopy = Join-Path $DataDir "tls-ca.pem"
$UseTls = if ($NoTls) { $false } elseif ($Tls -or $TlsCa) { $true } else { (Test-Path $TlsState) -or $ShareaiTls }
# The CA the task reads: the copy in the data dir.
$RunTlsCa = if ($UseTls -and ($TlsCa -or (Test-Path $TlsCaCopy))) { $TlsCaCopy } else { "" }

Install-Venv
New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
Invoke-Enroll
Save-TlsChoice
if ($NoService) {
    Say "installed without a task; run the agent with: & '$Agent' $(Get-RunArguments)"
} else {
    Register-AgentTask
}
