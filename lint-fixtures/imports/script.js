// Uses a name that is not a Node global: the JS rules must see it.
export const value = undefinedGlobalName + 1;
