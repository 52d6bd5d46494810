import * as pulumi from '@pulumi/pulumi';

/** Options of a section: the component it is a part of. */
export interface SectionOptions extends pulumi.ComponentResourceOptions {
  parent: pulumi.Resource;
}

/**
 * One part (storage, functions, API, ...) of a larger component, as pulumi-awsx builds its components. It takes the
 * name of the component it belongs to, so its resources keep the logical names they had when they were the
 * component's direct children; each is registered with an alias naming that component as its parent, so `pulumi up`
 * on a stack deployed before the split moves it in the state instead of replacing it (Pulumi docs, "Resource
 * options: aliases"). Without the alias a table, key, bucket or trail would be deleted and created afresh.
 */
export abstract class Section extends pulumi.ComponentResource {
  /** Options of every resource the section declares: parented here, aliased to where it used to be. */
  protected readonly child: pulumi.CustomResourceOptions;

  constructor(type: string, name: string, opts: SectionOptions) {
    super(type, name, {}, opts);
    this.child = { parent: this, aliases: [{ parent: opts.parent }] };
  }
}
