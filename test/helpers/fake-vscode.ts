// The smallest `vscode` the extension's tree providers and commands need in unit tests: the classes they
// construct and the window calls they make, recorded. Installed by requiring this file before the module under test.
import Module from 'node:module';

export class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  event = (l: (e: T) => void) => {
    this.listeners.push(l);
    return { dispose() {} };
  };
  fire(e: T) {
    for (const l of this.listeners) l(e);
  }
  dispose() {
    this.listeners = [];
  }
}
export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}
export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  iconPath?: ThemeIcon;
  command?: unknown;
  accessibilityInformation?: unknown;
  constructor(
    readonly label: string,
    readonly collapsibleState: TreeItemCollapsibleState,
  ) {}
}
export const Uri = { parse: (s: string) => ({ toString: () => s }) };
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

/** What commands showed; answers for the next prompts; what went to the clipboard and which commands ran. */
export const recorded = {
  messages: [] as string[],
  quickPickAnswers: [] as unknown[],
  clipboard: [] as string[],
  commands: [] as string[],
};
export const env = {
  clipboard: {
    writeText: async (t: string) => {
      recorded.clipboard.push(t);
    },
  },
};
export const commands = {
  executeCommand: async (id: string) => {
    recorded.commands.push(id);
  },
};
export const window = {
  showInformationMessage: async (m: string) => {
    recorded.messages.push(m);
    return undefined;
  },
  showWarningMessage: async (m: string) => {
    recorded.messages.push(m);
    return recorded.quickPickAnswers.shift();
  },
  showErrorMessage: async (m: string) => {
    recorded.messages.push(m);
    return undefined;
  },
  showQuickPick: async (items: any[]) => {
    const want = recorded.quickPickAnswers.shift();
    return items.find((i) => i.label === want);
  },
  withProgress: async (_o: unknown, task: () => Promise<unknown>) => task(),
  setStatusBarMessage: (m: string) => {
    recorded.messages.push(m);
    return { dispose() {} };
  },
};

const real = (Module as any)._resolveFilename;
(Module as any)._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? __filename : real.call(this, request, ...rest);
};
